"""`ledgergate keys ...`: not built yet (see its issue)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:  # argparse's subparsers action has no public type
    del sub


def _unused(args: argparse.Namespace) -> int:
    return 0
