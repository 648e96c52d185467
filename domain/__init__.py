"""Ledgergate's domain: events, pure rules and ports. Imports only the stdlib and msgspec."""
