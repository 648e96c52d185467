"""The OpenAI Agents SDK adapter: runs drop-in agents on the gateway's upstream, governed.

Importing this package first makes sure ``agents`` means the installed SDK, never a folder
named ``agents`` that happens to sit on ``sys.path`` (see ``sdkimport``).
"""

from __future__ import annotations

from app.adapters.sdk.sdkimport import import_sdk

import_sdk()

__all__ = ("import_sdk",)
