"""The retention clock on both warehouses: raw facts of the last ``keep_days`` days
stay raw, older days go to the rollups, and no report changes on the way."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.analytics.retention import RetentionLoop
from services.analytics.store import Batch, WarehouseStore
from tests.analytics.test_store_contract import START, TITLES, TODAY, VIEWS, every_report
from tests.mesh import wait_until


async def test_bad_settings_are_refused(store: WarehouseStore) -> None:
    with pytest.raises(ValueError, match="keep_days"):
        RetentionLoop(store, keep_days=0, interval_seconds=60)
    with pytest.raises(ValueError, match="interval_seconds"):
        RetentionLoop(store, keep_days=7, interval_seconds=0)


async def test_the_loop_keeps_the_last_days_raw_and_changes_no_report(
    store: WarehouseStore,
) -> None:
    await store.load(Batch(views=VIEWS, titles=TITLES))
    before = await every_report(store, START, TODAY)
    retention = RetentionLoop(store, keep_days=5, interval_seconds=3600, today=lambda: TODAY)
    kept_from = TODAY - timedelta(days=4)
    assert retention.cutoff() == kept_from

    retention.start()
    try:

        async def rolled_up() -> bool:
            return (await store.row_counts()).rolled_up_views > 0

        await wait_until(rolled_up, "the retention loop's first round")
    finally:
        await retention.stop()
    # The round moved every old day: another moves nothing.
    result = await retention.run_once()
    assert result.rolled_through == kept_from - timedelta(days=1)
    assert result.raw_rows == 0
    counts = await store.row_counts()
    assert counts.views == sum(1 for v in VIEWS if v.day >= kept_from)
    assert counts.rolled_up_views > 0
    assert await every_report(store, START, TODAY) == before
