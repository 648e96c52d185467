"""``python -m app``: the same as the ``ledgergate`` console script."""

from app.cli import main

raise SystemExit(main())
