"""The ``ledgergate`` command line. Each command group lives in its own module with ``register``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from app.cli import audit, events, keys, migrate, projections, scan, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ledgergate",
        description="OpenAI-compatible gateway for Agents SDK drop-ins, with an audited event log.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (serve, migrate, scan, keys, events, projections, audit):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return result


if __name__ == "__main__":
    sys.exit(main())
