"""Store adapters: the one way a database driver's outage becomes UNAVAILABLE.

A store that cannot reach its database (locked, gone, a disk that fails, a
file that is not a database) raises
:class:`~services.runtime.errors.Unavailable`, which callers retry; a bug
(bad SQL, a broken invariant) keeps its own exception and surfaces as
INTERNAL through the error interceptor. An adapter names its driver's
outage exceptions once and guards its operations with the result, as a
context manager or as a decorator of its coroutine methods::

    _outage = unavailable_on(
        sqlite3.DatabaseError, what="the catalog store", unless=(sqlite3.IntegrityError,)
    )

    @_outage
    async def get_title(self, title_id: str) -> Title | None: ...

    async with _outage:  # or ``with _outage:`` around an ``async with``
        ...

Only exceptions raised inside are mapped; a domain error (NotFound from
the adapter's own check) passes untouched. The warning logged names the
driver's error type and code, never its message, which for SQLAlchemy
includes the statement and its parameters.

As a decorator the guard also times each call: one observation of
``streammesh_store_query_seconds`` per operation, named after the method
(services/runtime/store_metrics.py).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from services.runtime import store_metrics
from services.runtime.errors import Unavailable

log = logging.getLogger("streammesh.stores")

P = ParamSpec("P")
R = TypeVar("R")
ExceptionTypes = tuple[type[BaseException], ...]

# ErrorInfo.reason of every store's outage (the Cassandra bridge's too).
STORE_UNAVAILABLE = "STORE_UNAVAILABLE"


class Outage:
    """Maps ``causes`` (but not ``unless``) raised inside to Unavailable; see the module."""

    def __init__(
        self, causes: ExceptionTypes, what: str, unless: ExceptionTypes = (), reason: str = ""
    ) -> None:
        if not causes:
            raise ValueError("unavailable_on needs at least one exception type")
        self._causes = causes
        self._unless = unless
        self.what = what
        self.message = f"{what} is unavailable; retry later"
        self.reason = reason
        # The store's label in streammesh_store_query_seconds.
        self.store = store_metrics.store_name(what)

    def is_outage(self, error: BaseException) -> bool:
        return isinstance(error, self._causes) and not isinstance(error, self._unless)

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is not None and self.is_outage(error):
            driver = getattr(error, "orig", None) or error  # SQLAlchemy wraps the driver's
            log.warning(
                "%s is unavailable: %s",
                self.what,
                type(driver).__name__,
                extra={"error": type(error).__name__, "driver_error": _driver_code(driver)},
            )
            raise Unavailable(self.message, reason=self.reason) from error

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, error, traceback)

    def __call__(self, operation: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        """The coroutine function ``operation``, guarded and timed."""
        name = operation.__name__

        @functools.wraps(operation)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            with store_metrics.timed(self.store, name, self.is_outage), self:
                return await operation(*args, **kwargs)

        return guarded


def unavailable_on(
    *causes: type[BaseException],
    what: str,
    unless: ExceptionTypes = (),
    reason: str = STORE_UNAVAILABLE,
) -> Outage:
    """A guard that turns ``causes`` (except ``unless``) into ``Unavailable("<what> is
    unavailable; retry later", reason=reason)``: a context manager (sync and async)
    and a decorator."""
    return Outage(causes, what, unless, reason)


def _driver_code(driver: BaseException) -> str:
    """The driver's error code, for the log: SQLite's name, a MySQL errno, else ""."""
    name = getattr(driver, "sqlite_errorname", None)
    if isinstance(name, str):
        return name
    args = getattr(driver, "args", ())
    if args and isinstance(args[0], int):
        return str(args[0])
    return ""
