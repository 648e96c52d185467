"""The child side of an import probe: import one drop-in in a throwaway process and judge it.

Runs in a process forked from the probe server (``app.adapters.workers.probe_server``), which
has already imported the Agents SDK and the loader, so a probe costs a fork and the drop-in's own
import. The child caps its address space (``RLIMIT_AS``), imports and resolves the drop-in
exactly as the gateway would, then looks at what the import did to the process:

- threads it left running (a busy one steals the gateway's GIL; a non-daemon one keeps
  ``ledgergate scan`` from exiting);
- functions, classes or methods of the Agents SDK, the OpenAI client or the gateway itself
  (``agents``, ``openai``, ``app``, ``domain``) that it replaced or deleted: such a patch would
  apply to every other drop-in and to governance.

It writes back one msgpack ``ProbeResult`` and leaves with ``os._exit`` so that threads the
drop-in started cannot keep it alive.
"""

from __future__ import annotations

import os
import resource
import struct
import sys
import threading
import types
from pathlib import Path
from typing import Any

import msgspec

# Imported here, in the fork server, once: every probe forked from it starts with the SDK loaded.
from app.adapters.sdk.sdkimport import import_sdk

import_sdk()

from app.adapters.discovery.files import DropinSource  # noqa: E402
from app.adapters.discovery.loader import classify, load_python  # noqa: E402
from app.adapters.sdk.runner_hook import install_runner_hook  # noqa: E402
from app.adapters.toolmodules import FailedToolModule, check_tool_module  # noqa: E402
from app.adapters.workers import worker  # noqa: E402
from app.adapters.workers.protocol import ProbeRequest, ProbeResult  # noqa: E402
from app.services.agents import DropinError  # noqa: E402

WATCHED = ("agents", "openai", "app", "domain")
_MB = 1024 * 1024

NO_THREADS = (
    "Start no threads at import time: a drop-in's import runs inside the gateway process "
    "(do background work inside the agent's tools)."
)
NO_PATCHES = (
    "Do not patch the Agents SDK, the OpenAI client or the gateway from a drop-in: the change "
    "would apply to every other agent and to governance."
)


def _watched(name: str) -> bool:
    return any(name == w or name.startswith(w + ".") for w in WATCHED)


_PLAIN = (
    types.FunctionType,
    types.BuiltinFunctionType,
    types.ModuleType,
    classmethod,
    staticmethod,
    property,
)


def _patchable(value: Any) -> bool:
    # ``type()``, not ``isinstance``: lazy proxies (openai's) answer ``__class__`` by importing.
    kind = type(value)
    return kind in _PLAIN or issubclass(kind, type)


Snapshot = dict[tuple[str, str], int]


def snapshot() -> Snapshot:
    """``(owner, attribute) -> id(value)`` for every function, class and method of WATCHED."""
    out: Snapshot = {}
    for mod_name, module in list(sys.modules.items()):
        if not _watched(mod_name) or not isinstance(module, types.ModuleType):
            continue
        out[("sys.modules", mod_name)] = id(module)
        for attr, value in list(vars(module).items()):
            if not _patchable(value):
                continue
            out[(mod_name, attr)] = id(value)
            if issubclass(type(value), type) and value.__module__ == mod_name:
                owner = f"{mod_name}.{value.__qualname__}"
                for member, inner in list(vars(value).items()):
                    if _patchable(inner) and not member.startswith("__"):
                        out[(owner, member)] = id(inner)
    return out


def patched(before: Snapshot, after: Snapshot) -> list[str]:
    """What the import replaced or deleted (additions, e.g. newly imported submodules, are fine)."""
    return sorted(
        f"sys.modules[{attr!r}]" if owner == "sys.modules" else f"{owner}.{attr}"
        for (owner, attr), ident in before.items()
        if after.get((owner, attr)) != ident
    )


def prepare() -> Snapshot:
    """Set the process up as the gateway's is, once in the server; the baseline to judge by."""
    install_runner_hook()
    return snapshot()


def judge(request: ProbeRequest, before: Snapshot) -> ProbeResult:
    """Import the drop-in and judge what it did to the process; never raises."""
    if request.kind == "tool_module":
        return _judge_tool_module(request, before)
    worker.publish_gateway_tools(request.gateway_tools)
    source = DropinSource(
        name=request.name,
        path=Path(request.path),
        folder=Path(request.folder) if request.folder else None,
    )
    threads = set(threading.enumerate())
    try:
        load_python(source)
    except DropinError as error:
        if isinstance(error.__cause__, MemoryError):
            return _memory(request, error.__cause__)
        return ProbeResult(
            ok=False,
            error_type=error.error_type,
            message=error.message,
            remediation=error.remediation,
        )
    except MemoryError as exc:
        return _memory(request, exc)
    except BaseException as exc:  # KeyboardInterrupt, SystemExit: the gateway would have died
        return _refused(classify(exc, source))
    return _aftermath(before, threads) or ProbeResult(ok=True)


def _judge_tool_module(request: ProbeRequest, before: Snapshot) -> ProbeResult:
    threads = set(threading.enumerate())
    try:
        failure = check_tool_module(request.name, Path(request.path))
    except MemoryError as exc:
        return _memory(request, exc)
    if failure is not None:
        return _refused(failure)
    return _aftermath(before, threads) or ProbeResult(ok=True)


def _refused(failure: DropinError | FailedToolModule) -> ProbeResult:
    return ProbeResult(
        ok=False,
        error_type=failure.error_type,
        message=failure.message,
        remediation=failure.remediation,
    )


def _aftermath(before: Snapshot, threads: set[threading.Thread]) -> ProbeResult | None:
    """What an import that succeeded left behind: patches, then threads; None if nothing."""
    changed = patched(before, snapshot())
    if changed:
        return ProbeResult(
            ok=False,
            error_type="patches_gateway",
            message="the import replaced or deleted " + ", ".join(changed[:8]),
            remediation=NO_PATCHES,
        )
    started = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
    if started:
        names = ", ".join(f"{t.name} ({'daemon' if t.daemon else 'non-daemon'})" for t in started)
        return ProbeResult(
            ok=False,
            error_type="starts_thread",
            message=f"the import left threads running: {names}",
            remediation=NO_THREADS,
        )
    return None


def _memory(request: ProbeRequest, exc: BaseException) -> ProbeResult:
    return ProbeResult(
        ok=False,
        error_type="import_memory",
        message=f"{type(exc).__name__} while importing (limit {request.memory_limit_mb} MB)",
        remediation=(
            "Load less at import time, or raise LEDGERGATE_DROPIN_MEMORY_LIMIT_MB "
            f"(now {request.memory_limit_mb})."
        ),
    )


def run(raw: bytes, result_fd: int, before: Snapshot) -> None:
    """A forked probe: judge, write the verdict (length-prefixed), leave without waiting."""
    code = 0
    try:
        request = msgspec.msgpack.decode(raw, type=ProbeRequest)
        if request.kind == "worker":
            worker.serve(request, result_fd)  # never returns
        os.chdir(request.cwd)
        os.environ.clear()
        os.environ.update(request.env)
        limit = request.memory_limit_mb * _MB
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            result = judge(request, before)
        except MemoryError as exc:
            result = _memory(request, exc)
        body = msgspec.msgpack.encode(result)
        with os.fdopen(result_fd, "wb") as out:
            out.write(struct.pack("!I", len(body)) + body)
    except BaseException:
        code = 70
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
