"""Fixtures of the chaos suite."""

# The events suite's private redis-server, which a test may SIGKILL and restart.
from tests.events.conftest import private_redis

__all__ = ["private_redis"]
