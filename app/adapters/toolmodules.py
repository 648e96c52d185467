"""Loads gateway tool modules by file path and turns their ``@gateway_tool`` functions into specs.

Each ``<dir>/*.py`` or ``<dir>/<pkg>/__init__.py`` is executed under a private module name, never
via ``sys.path``. A module that fails to load is reported (with what to do), never raised; the
other modules still load. Schemas come from the Agents SDK's own ``function_schema``, so a
gateway tool looks to a model exactly as the same function would as an SDK ``function_tool``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

# First: makes ``agents`` mean the installed SDK, whatever sits on sys.path (app.adapters.sdk).
import app.adapters.sdk  # noqa: F401  # isort: skip

import msgspec
from agents.function_schema import FuncSchema, function_schema
from pydantic import ValidationError

from app.adapters.discovery.files import module_files
from app.dropin import gateway_tool_mark
from app.services.tools import ToolArgumentsError, ToolSpec

LoadedTool = tuple[ToolSpec, Callable[..., Any]]


class FailedToolModule(msgspec.Struct, frozen=True, kw_only=True):
    """A tool module that could not be served, and what to do about it."""

    name: str
    path: str
    error_type: str  # "missing_dependency" | "import_error" | "invalid_tool" | "duplicate_tool"
    message: str
    remediation: str
    digest: str = ""


class _ModuleError(Exception):
    def __init__(self, error_type: str, message: str, remediation: str) -> None:
        super().__init__(message)
        self.error_type, self.message, self.remediation = error_type, message, remediation


def _digest(path: Path) -> str:
    files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
    h = hashlib.sha256()
    for file in files:
        h.update(file.read_bytes())
    return h.hexdigest()


def _private_name(name: str, path: Path) -> str:
    tag = hashlib.sha1(str(path.resolve()).encode(), usedforsecurity=False).hexdigest()[:10]
    return f"_ledgergate_tools_{tag}_{re.sub(r'[^0-9A-Za-z_]', '_', name)}"


def _forget(module_name: str) -> None:
    for key in [k for k in sys.modules if k == module_name or k.startswith(module_name + ".")]:
        del sys.modules[key]


def _exec_module(name: str, path: Path) -> ModuleType:
    module_name = _private_name(name, path)
    _forget(module_name)  # a rescan runs the file's current code, not a cached module
    package = [str(path.parent)] if path.name == "__init__.py" else None
    spec = importlib.util.spec_from_file_location(
        module_name, path, submodule_search_locations=package
    )
    if spec is None or spec.loader is None:
        raise _ModuleError("import_error", f"cannot load {path}", "Check the file is Python.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as exc:
        _forget(module_name)
        missing = (exc.name or "").split(".")[0]
        if missing and not missing.startswith("_ledgergate_"):
            raise _ModuleError(
                "missing_dependency",
                f"{path} imports '{missing}', which is not installed.",
                f"pip install {missing}  (into the gateway's environment), then rescan.",
            ) from exc
        raise _failure(path, exc) from exc
    except BaseException as exc:  # a module's top level may raise anything, even SystemExit
        _forget(module_name)
        raise _failure(path, exc) from exc
    return module


def _failure(path: Path, exc: BaseException) -> _ModuleError:
    where = ""
    if isinstance(exc, SyntaxError) and exc.lineno:
        where = f" (line {exc.lineno})"
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        if frames:
            where = f" (line {frames[-1].lineno})"
    return _ModuleError(
        "import_error",
        f"{type(exc).__name__}: {exc}{where}",
        f"Fix the error in {path}{where}; the module is loaded again on the next scan.",
    )


def _binder(schema: FuncSchema) -> Callable[[str], tuple[tuple[Any, ...], dict[str, Any]]]:
    model = schema.params_pydantic_model

    def bind(arguments: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
        try:
            data = model.model_validate_json(arguments or "{}")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ToolArgumentsError(problems) from None
        args, kwargs = schema.to_call_args(data)
        return tuple(args), kwargs

    return bind


def tool_spec(fn: Callable[..., Any], source: str = "") -> ToolSpec:
    """The spec of a ``@gateway_tool`` function; raises ``_ModuleError`` if it cannot be one."""
    mark = gateway_tool_mark(fn)
    name = (mark.name if mark else None) or fn.__name__
    try:
        schema = function_schema(
            fn,
            name_override=name,
            description_override=mark.description if mark else None,
            strict_json_schema=True,
        )
        # Strict mode makes every parameter required; keep optional ones optional.
        required = set(schema.params_json_schema.get("required", []))
        if required != _required_params(schema):
            schema = function_schema(
                fn,
                name_override=name,
                description_override=mark.description if mark else None,
                strict_json_schema=False,
            )
    except Exception as exc:
        raise _ModuleError(
            "invalid_tool",
            f"gateway tool '{name}': cannot derive its JSON schema: {type(exc).__name__}: {exc}",
            "Give every parameter a JSON-compatible type hint.",
        ) from exc
    if schema.takes_context:
        raise _ModuleError(
            "invalid_tool",
            f"gateway tool '{name}' takes an SDK context argument.",
            "Drop the context parameter; read app.ports.request_context.current_request instead.",
        )
    return ToolSpec(
        name=name,
        description=schema.description or "",
        parameters=schema.params_json_schema,
        source=source,
        timeout_s=mark.timeout if mark else None,
        strict=schema.strict_json_schema,
        bind=_binder(schema),
    )


def _required_params(schema: FuncSchema) -> set[str]:
    return {
        p.name
        for p in schema.signature.parameters.values()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def _collect(module: ModuleType, path: Path) -> list[LoadedTool]:
    tools: list[LoadedTool] = []
    done: set[int] = set()
    for value in list(vars(module).values()):
        if gateway_tool_mark(value) is None or not callable(value) or id(value) in done:
            continue
        done.add(id(value))
        # Only the module's own tools: one imported from another tool module is that module's.
        if not str(getattr(value, "__module__", "")).startswith(module.__name__):
            continue
        tools.append((tool_spec(value, str(path)), value))
    return tools


def module_digest(path: Path) -> str:
    """sha256 over a tool module's Python files: an unchanged module needs no new probe."""
    return _digest(path)


def check_tool_module(name: str, path: Path) -> FailedToolModule | None:
    """Import one tool module and collect its tools (in an import probe); its failure or None."""
    try:
        _collect(_exec_module(name, path), path)
    except _ModuleError as exc:
        return FailedToolModule(
            name=name,
            path=str(path),
            error_type=exc.error_type,
            message=exc.message,
            remediation=exc.remediation,
        )
    return None


def load_tool_modules(
    dirs: Sequence[str], refused: Mapping[str, FailedToolModule] | None = None
) -> tuple[list[LoadedTool], list[FailedToolModule]]:
    """Load every tool module under ``dirs``: the tools found, and the modules that failed.

    ``refused`` (path -> failure): modules whose import probe failed; they are not imported here.
    """
    loaded: list[LoadedTool] = []
    failed: list[FailedToolModule] = []
    seen: dict[str, str] = {}  # tool name -> path of the module that defined it first
    for name, path in module_files(dirs):
        digest = _digest(path)
        if refused and str(path) in refused:
            failed.append(msgspec.structs.replace(refused[str(path)], digest=digest))
            continue
        try:
            tools = _collect(_exec_module(name, path), path)
            clashes = [spec.name for spec, _fn in tools if spec.name in seen]
            if clashes:
                raise _ModuleError(
                    "duplicate_tool",
                    f"gateway tool '{clashes[0]}' is already defined by {seen[clashes[0]]}.",
                    "Rename the tool (@gateway_tool(name=...)) or remove one of the two.",
                )
        except _ModuleError as exc:
            failed.append(
                FailedToolModule(
                    name=name,
                    path=str(path),
                    error_type=exc.error_type,
                    message=exc.message,
                    remediation=exc.remediation,
                    digest=digest,
                )
            )
            continue
        for spec, _fn in tools:
            seen[spec.name] = str(path)
        loaded.extend(tools)
    return loaded, failed
