"""The retention policy's clock: raw facts kept ``raw_retention_days`` days, rollups for ever.

Every ``retention_interval_seconds`` (and once at start) the service rolls up
every raw day before the last ``raw_retention_days`` UTC days, today included
(``store.roll_up``: one transaction; services/analytics/store.py says why no
figure changes). A warehouse outage skips a round: the next one catches up,
since a rollup moves every day before its cutoff, however many.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Final

from prometheus_client import Counter

from services.analytics.store import RollupResult, WarehouseStore
from services.runtime.errors import Unavailable

log = logging.getLogger(__name__)

ROLLED_UP: Final = Counter(
    "streammesh_analytics_rolled_up_views_total",
    "Raw view rows moved into daily rollups by the retention policy.",
)


class RetentionLoop:
    def __init__(
        self,
        store: WarehouseStore,
        *,
        keep_days: int,
        interval_seconds: float,
        today: Callable[[], date] | None = None,
    ) -> None:
        if keep_days < 1 or interval_seconds <= 0:
            raise ValueError("keep_days >= 1 and interval_seconds > 0")
        self._store = store
        self._keep_days = keep_days
        self._interval = interval_seconds
        self._today = today or (lambda: datetime.now(UTC).date())
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def cutoff(self) -> date:
        """The first day still kept raw."""
        return self._today() - timedelta(days=self._keep_days - 1)

    async def run_once(self) -> RollupResult:
        result = await self._store.roll_up(self.cutoff())
        ROLLED_UP.inc(result.raw_rows)
        if result.raw_rows:
            log.info(
                "analytics retention: %d raw views rolled up into %d rows, through %s",
                result.raw_rows,
                result.rollup_rows,
                result.rolled_through,
            )
        return result

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="analytics-retention")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except Unavailable as err:
                log.warning("analytics retention: warehouse unavailable (%s); next round", err)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)
