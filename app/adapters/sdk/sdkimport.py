"""Import the real Agents SDK as ``agents``, even when a folder named ``agents`` would shadow it.

Python puts the working directory (``python -m``) or a script's directory first on
``sys.path``; a package named ``agents`` there would win over site-packages. We import the SDK
once with such entries hidden, so every later ``import agents`` gets it from ``sys.modules``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from importlib import metadata
from pathlib import Path

SDK_DISTRIBUTION = "openai-agents"


def sdk_init_path() -> Path | None:
    """Where the installed SDK's ``agents/__init__.py`` lives, or None if it is not installed."""
    try:
        dist = metadata.distribution(SDK_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None
    return Path(str(dist.locate_file("agents/__init__.py"))).resolve()


def _shadows(entry: str, sdk_init: Path) -> bool:
    """Whether ``entry`` on sys.path holds an ``agents`` module or package that is not the SDK."""
    spec = importlib.machinery.PathFinder.find_spec("agents", [entry or "."])
    if spec is None or spec.origin is None:  # nothing, or only a namespace portion: no shadowing
        return False
    return Path(spec.origin).resolve() != sdk_init


def _is_sdk(module: object, sdk_init: Path) -> bool:
    origin = getattr(module, "__file__", None)
    return origin is not None and Path(origin).resolve() == sdk_init


def import_sdk() -> None:
    """Make ``sys.modules["agents"]`` the installed SDK. Idempotent and cheap once done."""
    sdk_init = sdk_init_path()
    if sdk_init is None:
        return  # no SDK installed: drop-ins fail at load with a pip remediation
    current = sys.modules.get("agents")
    if current is not None and _is_sdk(current, sdk_init):
        return
    for name in [m for m in sys.modules if m == "agents" or m.startswith("agents.")]:
        del sys.modules[name]  # a shadowing package imported earlier: forget it
    saved = list(sys.path)
    sys.path[:] = [entry for entry in saved if not _shadows(entry, sdk_init)]
    try:
        importlib.import_module("agents")
    finally:
        sys.path[:] = saved
