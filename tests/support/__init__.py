"""Shared test harness: fake upstream, live gateway, and their fixtures."""
