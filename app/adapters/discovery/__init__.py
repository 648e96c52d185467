"""Drop-in discovery: find drop-ins, load them by file path, keep the agent registry current."""

from __future__ import annotations

# Before any submodule imports ``agents``: make sure that name means the installed SDK.
import app.adapters.sdk  # noqa: F401
