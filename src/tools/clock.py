"""Sample gateway tools: the current time in a timezone, and a word count."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.dropin import gateway_tool


def _zone(name: str) -> tzinfo:
    if name.upper() in {"UTC", "Z", "ETC/UTC"}:
        return UTC  # no tz database needed for the common case
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        hint = "use an IANA name like 'Europe/Paris'"
        raise ValueError(f"unknown timezone {name!r}; {hint}") from exc


@gateway_tool(timeout=5.0)
def get_time(timezone: str = "UTC") -> dict[str, str]:
    """Get the current date and time in a timezone.

    Args:
        timezone: An IANA timezone name such as "UTC" or "Europe/Paris".
    """
    now = datetime.now(_zone(timezone))
    return {
        "timezone": timezone,
        "iso": now.isoformat(timespec="seconds"),
        "utc_offset": now.strftime("%z") or "+0000",
    }


@gateway_tool
def word_count(text: str) -> int:
    """Count the words (whitespace-separated) in a text.

    Args:
        text: The text to count the words of.
    """
    return len(text.split())
