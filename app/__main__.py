"""``python -m app``: the same as the ``ledgergate`` console script.

``python -m`` puts the working directory first on ``sys.path``; if it holds a package named
``agents``, that would shadow the Agents SDK. Import the real SDK first, with such entries
hidden, so every later ``import agents`` (drop-ins included) gets the SDK.
"""

from app.adapters.sdk.sdkimport import import_sdk

import_sdk()

from app.cli import main  # noqa: E402  (after the SDK is pinned in sys.modules)

raise SystemExit(main())
