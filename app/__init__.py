"""Ledgergate's application layer: HTTP API, settings, adapters, services and CLI."""
