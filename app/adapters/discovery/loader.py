"""Loads one Python drop-in by file path under a private module name and finds its entry point.

Nothing is put on ``sys.path``: a folder drop-in becomes a private package (so its relative
imports work) and its ``agent.py`` a submodule of it. A drop-in that cannot be served raises
``DropinError`` with the error type, message and a one-line remediation.

Entry points, first match wins: ``LEDGERGATE_ENTRYPOINT``; an Agent Builder export's
``async def run_workflow(workflow_input)``; a zero-argument ``create_agent``/``build_agent``;
the one root module-level ``Agent`` (not reachable from another one by handoff or ``as_tool``).
A ``handoff()`` or an ``as_tool()`` tool names its agent; the name is looked up among the
module-level agents of all the drop-in's modules (``known_agents``).
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import re
import sys
import types
from dataclasses import dataclass, field
from typing import Any

# First: makes ``agents`` mean the installed SDK, whatever sits on sys.path (app.adapters.sdk).
import app.adapters.sdk  # noqa: F401  # isort: skip

import openai
from agents.agent import Agent

from app.adapters.discovery.files import DropinSource
from app.adapters.sdk.govern import AgentGraph, Known, children, govern
from app.services.agents import DropinError

PRIVATE_PREFIX = "_ledgergate_dropin_"
_counter = itertools.count(1)

# Import names whose distribution is called something else.
_DISTRIBUTIONS = {
    "agents": "openai-agents",
    "guardrails": "openai-guardrails",
    "yaml": "pyyaml",
    "PIL": "pillow",
    "dotenv": "python-dotenv",
    "sklearn": "scikit-learn",
    "bs4": "beautifulsoup4",
    "cv2": "opencv-python",
    "docx": "python-docx",
}
FACTORIES = ("create_agent", "build_agent")


@dataclass
class LoadedModule:
    module: types.ModuleType
    private_name: str  # the top-level private name: forget everything under it to unload


@dataclass
class Entry:
    kind: str  # "sdk" | "agent_builder"
    entrypoint: str  # how it was found, for the log
    agent: Agent[Any] | None = None
    run_workflow: Any = None
    input_type: type[Any] | None = None
    graphs: list[AgentGraph] = field(default_factory=list)

    @property
    def tools(self) -> tuple[str, ...]:
        return tuple(sorted({name for g in self.graphs for name in g.tool_names}))


def forget(private_name: str) -> None:
    """Unload a drop-in module and everything imported under its private name."""
    for name in [m for m in sys.modules if m == private_name or m.startswith(private_name + ".")]:
        del sys.modules[name]


def _private_name(name: str) -> str:
    safe = re.sub(r"\W", "_", name)
    return f"{PRIVATE_PREFIX}{safe}_{next(_counter)}"


def import_dropin(source: DropinSource) -> LoadedModule:
    """Execute the drop-in's module under a fresh private name. Raises ``DropinError``."""
    private = _private_name(source.name)
    module_name = private
    try:
        if source.folder is not None:
            package = types.ModuleType(private)
            package.__path__ = [str(source.folder)]
            package.__package__ = private
            package.__file__ = None
            sys.modules[private] = package
            module_name = f"{private}.{source.path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, source.path)
        if spec is None or spec.loader is None:
            raise DropinError("import_error", f"cannot load {source.path}", "Check the file.")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # before exec: dataclasses and pickling look it up
        spec.loader.exec_module(module)
    except BaseException as exc:
        forget(private)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise classify(exc, source) from exc
    return LoadedModule(module, private)


def _where(exc: BaseException, source: DropinSource) -> str:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(source.path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return f"{source.path}:{line}" if line else str(source.path)


def classify(exc: BaseException, source: DropinSource) -> DropinError:
    """The failure a user sees for an exception raised while importing a drop-in."""
    if isinstance(exc, DropinError):
        return exc
    message = f"{type(exc).__name__}: {exc}"
    missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if missing and not missing.startswith(PRIVATE_PREFIX):
        top = missing.split(".")[0]
        dist = _DISTRIBUTIONS.get(top, top.replace("_", "-"))
        return DropinError("missing_dependency", message, f"pip install {dist}")
    if isinstance(exc, SyntaxError):
        where = f"{exc.filename}:{exc.lineno}" if exc.lineno else str(source.path)
        return DropinError("syntax_error", message, f"Fix the syntax error at {where}.")
    if isinstance(exc, ImportError):
        if "agents" in str(exc) and "partially initialized" in str(exc):
            fix = "A module named 'agents' shadows the Agents SDK: rename it."
        else:
            where = _where(exc, source)
            fix = f"Fix the import at {where} (relative imports need a folder drop-in)."
        return DropinError("import_error", message, fix)
    if isinstance(exc, openai.OpenAIError):
        return DropinError(
            "import_error",
            message,
            "Do not create an OpenAI client at import time: the gateway supplies the upstream.",
        )
    return DropinError("import_error", message, f"Fix the error raised at {_where(exc, source)}.")


def _is_workflow(value: Any) -> bool:
    return inspect.iscoroutinefunction(value) and len(inspect.signature(value).parameters) == 1


def _call_factory(name: str, factory: Any) -> Agent[Any]:
    try:
        agent = factory()
    except Exception as exc:
        raise DropinError(
            "entrypoint_error", f"{name}() raised {type(exc).__name__}: {exc}", f"Fix {name}()."
        ) from exc
    if inspect.isawaitable(agent):
        if inspect.iscoroutine(agent):
            agent.close()
        raise DropinError(
            "invalid_entrypoint", f"{name}() is async", f"Make {name}() a plain function."
        )
    if not isinstance(agent, Agent):
        raise DropinError(
            "invalid_entrypoint",
            f"{name}() returned {type(agent).__name__}, not an Agent",
            f"Return an agents.Agent from {name}().",
        )
    return agent


def _module_agents(module: types.ModuleType) -> dict[str, Agent[Any]]:
    out: dict[str, Agent[Any]] = {}
    seen: set[int] = set()
    for attr, value in vars(module).items():
        if isinstance(value, Agent) and id(value) not in seen and not attr.startswith("__"):
            seen.add(id(value))
            out[attr] = value
    return out


def known_agents(module: types.ModuleType) -> Known:
    """The module-level agents of every module of the drop-in ``module`` belongs to, by name."""
    top = module.__name__.split(".")[0]
    known: dict[str, list[Agent[Any]]] = {}
    seen: set[int] = set()
    for name, mod in list(sys.modules.items()):
        if mod is None or not (name == top or name.startswith(top + ".")):
            continue
        for value in list(vars(mod).values()):
            if isinstance(value, Agent) and id(value) not in seen:
                seen.add(id(value))
                known.setdefault(value.name, []).append(value)
    return known


def _root_agents(agents: dict[str, Agent[Any]], known: Known) -> list[str]:
    reachable: set[int] = set()
    for agent in agents.values():
        pending, seen = children(agent, known)[0], set[int]()
        while pending:
            child = pending.pop()
            if id(child) in seen:
                continue
            seen.add(id(child))
            reachable.add(id(child))
            pending.extend(children(child, known)[0])
    return [attr for attr, agent in agents.items() if id(agent) not in reachable]


def _explicit(module: types.ModuleType, value: Any) -> Entry:
    if isinstance(value, str):
        target = getattr(module, value, None)
        if target is None:
            raise DropinError(
                "invalid_entrypoint",
                f"LEDGERGATE_ENTRYPOINT names {value!r}, which the module does not define",
                "Set LEDGERGATE_ENTRYPOINT to an Agent, a factory or run_workflow.",
            )
        value = target
    if isinstance(value, Agent):
        return Entry("sdk", "LEDGERGATE_ENTRYPOINT", agent=value)
    if _is_workflow(value):
        return Entry("agent_builder", "LEDGERGATE_ENTRYPOINT", run_workflow=value)
    if callable(value):
        return Entry("sdk", "LEDGERGATE_ENTRYPOINT", agent=_call_factory("entrypoint", value))
    raise DropinError(
        "invalid_entrypoint",
        f"LEDGERGATE_ENTRYPOINT is a {type(value).__name__}",
        "Set LEDGERGATE_ENTRYPOINT to an Agent, a zero-argument factory or run_workflow.",
    )


def resolve_entry(module: types.ModuleType) -> Entry:
    """Find the drop-in's entry point and govern every agent graph it can run."""
    agents = _module_agents(module)
    known = known_agents(module)
    if hasattr(module, "LEDGERGATE_ENTRYPOINT"):
        entry = _explicit(module, module.LEDGERGATE_ENTRYPOINT)
    elif _is_workflow(getattr(module, "run_workflow", None)):
        entry = Entry("agent_builder", "run_workflow", run_workflow=module.run_workflow)
    elif factory := next((f for f in FACTORIES if callable(getattr(module, f, None))), None):
        entry = Entry("sdk", f"{factory}()", agent=_call_factory(factory, getattr(module, factory)))
    else:
        roots = _root_agents(agents, known)
        if not roots:
            raise DropinError(
                "no_entrypoint",
                "the module defines no Agent, factory or run_workflow",
                "Define a module-level Agent, a create_agent() factory or LEDGERGATE_ENTRYPOINT.",
            )
        if len(roots) > 1:
            raise DropinError(
                "ambiguous_entrypoint",
                f"several root agents: {', '.join(roots)}",
                f"Set LEDGERGATE_ENTRYPOINT = {roots[0]} (or whichever should answer).",
            )
        entry = Entry("sdk", roots[0], agent=agents[roots[0]])
    if entry.kind == "agent_builder":
        input_type = getattr(module, "WorkflowInput", None)
        entry.input_type = input_type if isinstance(input_type, type) else None
        entry.graphs = [govern(agent, known) for agent in agents.values()]
    else:
        assert entry.agent is not None
        entry.graphs = [govern(entry.agent, known)]
    return entry


def load_python(source: DropinSource) -> tuple[LoadedModule, Entry]:
    """Import ``source`` and resolve its entry point; on failure nothing stays loaded."""
    loaded = import_dropin(source)
    try:
        return loaded, resolve_entry(loaded.module)
    except BaseException:
        forget(loaded.private_name)
        raise
