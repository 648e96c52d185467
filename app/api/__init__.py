"""HTTP routes: thin controllers that parse, call one service and shape the response."""
