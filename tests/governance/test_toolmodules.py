"""Tool modules load by file path; a broken one is reported with a remediation, never fatal."""

from __future__ import annotations

import sys
from pathlib import Path

from app.adapters.toolmodules import load_tool_modules

GOOD = '''
from app.dropin import gateway_tool

@gateway_tool
def ping() -> str:
    """Answer pong."""
    return "pong"
'''


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_broken_modules_are_reported_and_the_others_still_load(tmp_path: Path) -> None:
    write(tmp_path, "a_good.py", GOOD)
    write(tmp_path, "b_syntax.py", "def broken(:\n")
    write(tmp_path, "c_missing.py", "import surely_not_installed_pkg_xyz\n")
    write(tmp_path, "d_raises.py", "x = 1\nraise RuntimeError('bad config')\n")
    write(tmp_path, "e_exit.py", "import sys\nsys.exit(2)\n")
    before = list(sys.path)
    loaded, failed = load_tool_modules([str(tmp_path), str(tmp_path / "missing-dir")])
    assert sys.path == before
    assert [spec.name for spec, _fn in loaded] == ["ping"]
    assert loaded[0][0].source == str(tmp_path / "a_good.py")
    by_name = {f.name: f for f in failed}
    assert sorted(by_name) == ["b_syntax", "c_missing", "d_raises", "e_exit"]
    assert by_name["b_syntax"].error_type == "import_error"
    assert "SyntaxError" in by_name["b_syntax"].message
    assert "(line 1)" in by_name["b_syntax"].message
    missing = by_name["c_missing"]
    assert missing.error_type == "missing_dependency"
    assert missing.remediation.startswith("pip install surely_not_installed_pkg_xyz")
    assert by_name["d_raises"].message == "RuntimeError: bad config (line 2)"
    assert by_name["e_exit"].message.startswith("SystemExit: 2")
    assert all(f.remediation and f.digest for f in failed)
    # failed modules leave nothing behind in sys.modules
    assert not [m for m in sys.modules if m.startswith("_ledgergate_tools_") and "d_raises" in m]


def test_packages_load_and_a_folder_named_agents_shadows_nothing(tmp_path: Path) -> None:
    write(tmp_path, "agents/__init__.py", "from .impl import ping\n")
    write(tmp_path, "agents/impl.py", GOOD)
    loaded, failed = load_tool_modules([str(tmp_path)])
    assert failed == []
    assert [spec.name for spec, _fn in loaded] == ["ping"]
    import agents  # the Agents SDK, not the folder

    assert hasattr(agents, "Runner")


def test_a_duplicate_tool_name_fails_the_second_module(tmp_path: Path) -> None:
    write(tmp_path, "first.py", GOOD)
    write(tmp_path, "second.py", GOOD)
    loaded, failed = load_tool_modules([str(tmp_path)])
    assert [spec.source for spec, _fn in loaded] == [str(tmp_path / "first.py")]
    [dup] = failed
    assert (dup.name, dup.error_type) == ("second", "duplicate_tool")


def test_a_tool_taking_an_sdk_context_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        "ctx.py",
        "from agents import RunContextWrapper\n"
        "from app.dropin import gateway_tool\n\n"
        "@gateway_tool\n"
        "def needs_ctx(ctx: RunContextWrapper, q: str) -> str:\n"
        "    return q\n",
    )
    loaded, failed = load_tool_modules([str(tmp_path)])
    assert loaded == []
    assert failed[0].error_type == "invalid_tool"


def test_a_rescan_runs_the_current_code(tmp_path: Path) -> None:
    path = write(tmp_path, "tool.py", GOOD)
    load_tool_modules([str(tmp_path)])
    path.write_text(GOOD.replace('"pong"', '"pong v2"'))
    [(_spec, fn)] = load_tool_modules([str(tmp_path)])[0]
    assert fn() == "pong v2"
