"""The ``ledgergate`` command line. Each command group lives in its own module with ``register``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from app.cli import audit, events, keys, migrate, projections, scan, serve
from app.settings import Settings

ENV_PREFIX = "LEDGERGATE_"
# Options many commands share, described once (a command's own help line wins).
COMMON_HELP = {
    "database_url": "the event log's database URL",
    "json": "print JSON instead of text",
}


def _settings_default(dest: str) -> str:
    value = Settings.__struct_defaults__[Settings.__struct_fields__.index(dest)]
    if value is None:
        return "none"
    return ",".join(value) if isinstance(value, tuple) else str(value)


def _explain(action: argparse.Action, kind: object) -> None:
    """Give an option its help line, its default and, for a setting, its environment variable."""
    if action.help == argparse.SUPPRESS:
        return
    text = action.help or COMMON_HELP.get(action.dest, "")
    if action.dest in Settings.__struct_fields__ and action.option_strings:
        env = ENV_PREFIX + action.dest.upper()
        if env not in text:
            text += f" (default: ${env}, else {_settings_default(action.dest)})"
    elif action.option_strings and "default" not in text:
        if kind == "store_true":
            text += " (default: off)"
        elif action.required:
            text += " (required)"
        elif action.default not in (None, "", []):
            text += f" (default: {action.default})"
        else:
            text += " (default: none)"
    action.help = text.strip()


class ExplainingParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that explains each option as it is added, and keeps what it holds:
    ``options`` (its arguments) and ``commands`` (its sub-command parsers)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.options: list[argparse.Action] = []  # before: the base class adds --help
        self.command_sets: list[argparse.Action] = []
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if kwargs.get("action") != "help":
            _explain(action, kwargs.get("action"))
            self.options.append(action)
        return action

    def add_subparsers(self, **kwargs: Any) -> Any:
        commands = super().add_subparsers(**kwargs)
        self.command_sets.append(commands)
        return commands

    @property
    def commands(self) -> dict[str, ExplainingParser]:
        found: dict[str, ExplainingParser] = {}
        for commands in self.command_sets:
            choices = commands.choices if isinstance(commands.choices, dict) else {}
            found.update({k: v for k, v in choices.items() if isinstance(v, ExplainingParser)})
        return found


def parsers(parser: ExplainingParser) -> Iterator[ExplainingParser]:
    """``parser`` and every sub-command parser under it (aliases once)."""
    yield parser
    for child in dict.fromkeys(parser.commands.values()):
        yield from parsers(child)


def _settings_epilog() -> str:
    lines = ["settings (environment; a ledgergate.toml may set the same keys):"]
    for name in Settings.__struct_fields__:
        lines.append(f"  {ENV_PREFIX + name.upper():34} default: {_settings_default(name)}")
    return "\n".join(lines)


def build_parser() -> ExplainingParser:
    parser = ExplainingParser(
        prog="ledgergate",
        description="OpenAI-compatible gateway for Agents SDK drop-ins, with an audited event log.",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (serve, migrate, scan, keys, events, projections, audit):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:  # `ledgergate` (or a group) alone: its help
        parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "--help"])
        return 0
    try:
        result: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return result


if __name__ == "__main__":
    sys.exit(main())
