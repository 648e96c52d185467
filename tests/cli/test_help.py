"""The CLI explains itself: every command and option has a help line with its default, and a
setting's environment variable; ``ledgergate`` alone prints help."""

from __future__ import annotations

import re
import subprocess
import sys

from app.cli import build_parser, parsers
from app.settings import Settings


def test_every_command_and_option_has_a_help_line_with_its_default() -> None:
    root = build_parser()
    for parser in parsers(root):
        text = parser.format_help()
        for name in parser.commands:
            # "    name  help" or, for a long name, the help on the next, indented line
            line = re.search(rf"^    {re.escape(name)}(?: +\S|\n {{8,}}\S)", text, re.M)
            assert line, f"{parser.prog} {name}: no help line"
        for action in parser.options:
            where = f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
            assert action.help and not action.help.startswith("("), f"{where}: no help line"
            if action.option_strings:
                assert "default" in action.help or "required" in action.help, where
            if action.dest in Settings.__struct_fields__ and action.option_strings:
                assert f"$LEDGERGATE_{action.dest.upper()}" in action.help, where


def test_ledgergate_alone_prints_help_naming_every_command_and_setting() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ledgergate")
    for command in ("serve", "scan", "keys", "events", "projections", "replay"):
        assert f"    {command}" in done.stdout
    for name in Settings.__struct_fields__:
        assert f"LEDGERGATE_{name.upper()}" in done.stdout
    serve = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    text = " ".join(serve.stdout.split())  # argparse wraps long help lines
    assert "--port PORT the port to listen on (default: $LEDGERGATE_PORT, else 8080)" in text
