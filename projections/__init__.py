"""Read models (CQRS) derived from the event log, and the runner that keeps them current."""
