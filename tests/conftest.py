"""Suite-wide pytest configuration: registers the shared fixtures in ``tests.support``."""

pytest_plugins = ["tests.support.fixtures", "tests.support.postgres"]
