"""``python -m bench [overhead|ab|eventlog] [args]``: the overhead benchmark unless told so."""

from __future__ import annotations

import asyncio
import sys


def main() -> int:
    argv = sys.argv[1:]
    if argv[:1] == ["eventlog"]:
        from bench import eventlog

        sys.argv = [sys.argv[0], *argv[1:]]
        asyncio.run(eventlog.main())
        return 0
    if argv[:1] == ["ab"]:
        from bench import ab

        return ab.main(argv[1:])
    if argv[:1] == ["overhead"]:
        argv = argv[1:]
    from bench import overhead

    return overhead.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
