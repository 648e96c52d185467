"""The ``ledgergate`` command line. Each command group lives in its own module with ``register``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence

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


def _explain(action: argparse.Action) -> None:
    """Give an option its help line, its default and, for a setting, its environment variable."""
    if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
        return
    text = action.help or COMMON_HELP.get(action.dest, "")
    if action.dest in Settings.__struct_fields__ and action.option_strings:
        env = ENV_PREFIX + action.dest.upper()
        if env not in text:
            text += f" (default: ${env}, else {_settings_default(action.dest)})"
    elif action.option_strings and "default" not in text:
        if isinstance(action, argparse._StoreTrueAction):
            text += " (default: off)"
        elif action.required:
            text += " (required)"
        elif action.default not in (None, "", []):
            text += f" (default: {action.default})"
        else:
            text += " (default: none)"
    action.help = text.strip()


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """``parser`` and every sub-command parser under it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from parsers(child)


def _settings_epilog() -> str:
    lines = ["settings (environment; a ledgergate.toml may set the same keys):"]
    for name in Settings.__struct_fields__:
        lines.append(f"  {ENV_PREFIX + name.upper():34} default: {_settings_default(name)}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ledgergate",
        description="OpenAI-compatible gateway for Agents SDK drop-ins, with an audited event log.",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (serve, migrate, scan, keys, events, projections, audit):
        module.register(sub)
    for each in parsers(parser):
        for action in each._actions:
            _explain(action)
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
