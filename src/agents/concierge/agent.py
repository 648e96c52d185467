"""A hand-written Agents SDK drop-in, served as model "concierge".

It mixes a native SDK tool (governed by the gateway with source "sdk") and a gateway tool
from src/tools (through use_gateway_tool, source "gateway"). No config edits needed.
"""

import json

from agents import Agent, function_tool

from app.dropin import use_gateway_tool

OFFICES = {"paris": "09:00-18:00 CET", "tokyo": "10:00-19:00 JST", "lima": "08:00-17:00 PET"}


@function_tool
def office_hours(city: str) -> str:
    """Opening hours of our office in a city.

    Args:
        city: The city, e.g. "Paris".
    """
    hours = OFFICES.get(city.strip().lower())
    return json.dumps({"city": city, "hours": hours or "no office there"})


agent = Agent(
    name="concierge",
    instructions="You help visitors. Use office_hours for opening hours and get_time for the time.",
    model="gpt-4o-mini",
    tools=[office_hours, use_gateway_tool("get_time")],
)
