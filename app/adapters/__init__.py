"""Adapters: the only code that touches drivers, HTTP clients and the Agents SDK."""
