"""``python -m app``: the same as the ``ledgergate`` console script.

``python -m`` puts the working directory first on ``sys.path``; a package named ``agents``
there would shadow the Agents SDK. ``app.adapters.sdk`` imports the real SDK (with such entries
hidden) before any drop-in code runs, the first time a drop-in needs it
(see ``app.adapters.sdk.sdkimport``); a passthrough-only gateway never imports it.
"""

from app.cli import main

raise SystemExit(main())
