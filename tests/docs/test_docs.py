"""Docs stay true: no dead links or anchors; the CLI and settings documented are the real ones."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from app.cli import build_parser
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", ".git", "node_modules", ".pytest_cache", "var", "build"}
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]+`")
# LEDGERGATE_* names that are not settings: a drop-in module's entry-point attribute.
NOT_SETTINGS = {"LEDGERGATE_ENTRYPOINT", "LEDGERGATE_TEST_POSTGRES_URL"}


def markdown_files() -> list[Path]:
    return sorted(
        p
        for p in ROOT.rglob("*.md")
        if not SKIP_DIRS.intersection(p.relative_to(ROOT).parts) and "fixtures" not in p.parts
    )


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"`|\*|_(?=\w)|(?<=\w)_", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set()
    for line in text.splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    text = CODE_SPAN.sub("", text)
    return LINK.findall(text)


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(path: Path) -> None:
    dead = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            dead.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            dead.append(f"{target} (no such anchor)")
    assert not dead, f"dead links in {path.relative_to(ROOT)}: {dead}"


def cli_commands() -> set[str]:
    """Every ``ledgergate`` command path, e.g. ``keys create``."""
    found: set[str] = set()

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    path = f"{prefix} {name}".strip()
                    found.add(path)
                    walk(sub, path)

    walk(build_parser(), "")
    return found


def documented(pattern: str, code_only: bool = False) -> set[str]:
    found: set[str] = set()
    for path in markdown_files():
        text = path.read_text(encoding="utf-8")
        if code_only:
            text = "\n".join(
                m.group(0) for m in re.finditer(r"^(```|~~~).*?^\1|`[^`\n]+`", text, re.S | re.M)
            )
        found.update(re.findall(pattern, text))
    return found


def test_every_cli_command_is_documented_and_every_documented_one_exists() -> None:
    real = cli_commands()
    leaves = {c for c in real if not any(o.startswith(c + " ") for o in real)}
    reference = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    missing = sorted(c for c in leaves if f"ledgergate {c}" not in reference)
    assert not missing, f"CLI commands missing from docs/operations.md: {missing}"
    groups = {c.split(" ")[0] for c in real if " " in c}
    mentioned = documented(r"ledgergate ([a-z][a-z-]*(?: [a-z][a-z-]*)?)", code_only=True)
    unknown = []
    for m in sorted(mentioned):
        first, _, second = m.partition(" ")
        if first not in real or (first in groups and f"{first} {second}" not in real):
            unknown.append(m)
    assert not unknown, f"documented but not a command: {unknown}"


def test_every_setting_is_documented_and_every_documented_one_exists() -> None:
    real = {"LEDGERGATE_" + name.upper() for name in Settings.__struct_fields__}
    real.add("LEDGERGATE_CONFIG")
    reference = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    missing = sorted(v for v in real if v not in reference)
    assert not missing, f"settings missing from docs/operations.md: {missing}"
    unknown = sorted(documented(r"\b(LEDGERGATE_[A-Z_]+[A-Z])\b") - real - NOT_SETTINGS)
    assert not unknown, f"documented but not a setting: {unknown}"


def test_names_that_look_like_settings_but_are_not_still_exist() -> None:
    loader = (ROOT / "app" / "adapters" / "discovery" / "loader.py").read_text(encoding="utf-8")
    assert 'hasattr(module, "LEDGERGATE_ENTRYPOINT")' in loader
    postgres = (ROOT / "tests" / "support" / "postgres.py").read_text(encoding="utf-8")
    assert 'ENV = "LEDGERGATE_TEST_POSTGRES_URL"' in postgres
