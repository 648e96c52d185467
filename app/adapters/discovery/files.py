"""Where drop-ins live: ``<root>/<name>/agent.py`` or ``agent.toml``, or ``<root>/<name>.py``;
and gateway tool modules: ``<root>/<name>.py`` or ``<root>/<name>/__init__.py``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_SKIP_DIRS = {"__pycache__", ".git", ".venv", "node_modules"}


@dataclass(frozen=True, slots=True)
class DropinSource:
    """One drop-in on disk. ``folder`` is set for folder drop-ins (their files form the digest)."""

    name: str
    path: Path
    folder: Path | None

    @property
    def kind(self) -> str:
        return "toml" if self.path.suffix == ".toml" else "python"

    def files(self) -> list[Path]:
        if self.folder is None:
            return [self.path]
        return sorted(
            p
            for p in self.folder.rglob("*")
            if p.is_file()
            and not any(part in _SKIP_DIRS or part.startswith(".") for part in p.parts[-3:])
            and p.suffix not in (".pyc", ".pyo")
        )

    def digest(self) -> str:
        """sha256 over the drop-in's files (relative names and bytes): a reload or a no-op."""
        sha = hashlib.sha256()
        base = self.folder or self.path.parent
        for file in self.files():
            try:
                data = file.read_bytes()
            except OSError:
                continue  # vanished mid-scan: the next scan sees the new state
            sha.update(str(file.relative_to(base)).encode() + b"\0")
            sha.update(hashlib.sha256(data).digest())
        return sha.hexdigest()


def find_dropins(
    roots: tuple[str, ...] | list[str],
) -> tuple[list[DropinSource], list[DropinSource]]:
    """(drop-ins, duplicates) under ``roots``, in root order; a name's first occurrence wins."""
    found: list[DropinSource] = []
    duplicates: list[DropinSource] = []
    names: set[str] = set()
    for root in roots:
        base = Path(root)
        if not base.is_dir():
            continue
        for entry in sorted(base.iterdir()):
            if entry.name.startswith(("_", ".")) or entry.name in _SKIP_DIRS:
                continue
            source: DropinSource | None = None
            if entry.is_dir():
                if (entry / "agent.py").is_file():
                    source = DropinSource(entry.name, entry / "agent.py", entry)
                elif (entry / "agent.toml").is_file():
                    source = DropinSource(entry.name, entry / "agent.toml", entry)
            elif entry.is_file() and entry.suffix == ".py":
                source = DropinSource(entry.stem, entry, None)
            if source is None:
                continue
            (duplicates if source.name in names else found).append(source)
            names.add(source.name)
    return found, duplicates


def module_files(dirs: Sequence[str]) -> list[tuple[str, Path]]:
    """(name, entry file) of every tool module under ``dirs``, in a stable order."""
    found: list[tuple[str, Path]] = []
    for root in dirs:
        base = Path(root)
        if not base.is_dir():
            continue
        for entry in sorted(base.iterdir()):
            if entry.name.startswith(("_", ".")):
                continue
            if entry.is_file() and entry.suffix == ".py":
                found.append((entry.stem, entry))
            elif entry.is_dir() and (entry / "__init__.py").is_file():
                found.append((entry.name, entry / "__init__.py"))
    return found
