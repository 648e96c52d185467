"""``app/`` uses only the public APIs of ``openai`` and the Agents SDK (``agents``).

Upgrading either within its major version must not be able to break the gateway without a
failing test: so no import from their private modules, no private name imported, and no
attribute access to a private name that either package defines (and ``app`` does not), nor
that name as a string (``getattr(x, "_name")``, ``vars(x)["_name"]``).
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
PACKAGES = ("openai", "agents")
# The entry points the 0.1 upstream client reached into: never again, whoever defines them.
KNOWN = frozenset(
    {
        "_build_request",
        "_client",
        "_platform",
        "_make_status_error_from_response",
        "FinalRequestOptions",
        "_base_client",
        "_httpx2",
        "_models",
    }
)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _sources(root: Path) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), str(path))


def _defined_private(tree: ast.Module) -> set[str]:
    """Private names a module defines: functions, methods, classes, ``self._x`` attributes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return {n for n in names if _private(n)}


def _package_root(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, f"{name} is not installed"
    return Path(spec.origin).parent


@pytest.fixture(scope="module")
def sdk_private() -> frozenset[str]:
    names: set[str] = set()
    for package in PACKAGES:
        for _path, tree in _sources(_package_root(package)):
            names |= _defined_private(tree)
    return frozenset(names)


def _violations(sdk_private: frozenset[str]) -> list[str]:
    sources = list(_sources(APP))
    ours: set[str] = set()
    for _path, tree in sources:
        ours |= _defined_private(tree)
    # A private name both define is ours when we use it on our own objects; KNOWN never is.
    suspicious = (sdk_private - ours) | KNOWN
    found: list[str] = []
    for path, tree in sources:
        where = path.relative_to(APP.parent)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[0] in PACKAGES and (
                    any(_private(p) for p in parts)
                    or any(_private(a.name) or a.name in KNOWN for a in node.names)
                ):
                    found.append(f"{where}:{node.lineno}: from {node.module} import ...")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[0] in PACKAGES and any(_private(p) for p in parts):
                        found.append(f"{where}:{node.lineno}: import {alias.name}")
            elif isinstance(node, ast.Attribute) and node.attr in suspicious:
                found.append(f"{where}:{node.lineno}: .{node.attr}")
            elif (
                # getattr(x, "_name"), vars(x)["_name"], attrgetter("_name"): the name as a string
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in suspicious
                and node.value.isidentifier()
                and node.value != "_"
            ):
                found.append(f"{where}:{node.lineno}: {node.value!r}")
            elif isinstance(node, ast.Name) and node.id in KNOWN:
                found.append(f"{where}:{node.lineno}: {node.id}")
    return found


def test_app_uses_no_private_name_of_openai_or_agents(sdk_private: frozenset[str]) -> None:
    assert _violations(sdk_private) == []


def test_the_check_sees_a_private_entry_point(
    sdk_private: frozenset[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check itself can fail: the 0.1 wire module's reach-ins are all caught."""
    bad = tmp_path / "app"
    bad.mkdir()
    (bad / "wire.py").write_text(
        "from openai._models import FinalRequestOptions\n"
        "import openai._base_client\n"
        "def f(client):\n"
        "    client._platform = None\n"
        "    return client._build_request(FinalRequestOptions()), client._client\n"
        "def g(tool):\n"
        "    return getattr(tool, '_is_agent_tool', False)\n"
        "def h(handoff, tool):\n"
        "    return vars(tool)['_agent_instance'], operator.attrgetter('_agent_ref')(handoff)\n"
    )
    monkeypatch.setattr(__import__(__name__, fromlist=["APP"]), "APP", bad)
    found = _violations(sdk_private)
    assert len(found) == 9, found
    assert any("._build_request" in f for f in found) and any("._client" in f for f in found)
    assert any("'_agent_instance'" in f for f in found) and any("'_agent_ref'" in f for f in found)
