"""Services: the gateway's use cases, wired by ``app.main`` from adapters."""
