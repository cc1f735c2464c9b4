"""The freshness consumer's handler on a real engine and a real SQLite store.

Views of one profile that arrive together (a binge, a device's offline views)
share the list computation that follows them, and none is left out of it:
the stored list is computed after every view was learned. The consumer hands
views of different titles to the handler concurrently; here they are handed
over at once, and the first computation is held until every view is learned,
so how many computations run is known.
"""

from __future__ import annotations

import asyncio

from services.events.consumer import Delivery
from services.events.envelope import new_event
from services.recommendations.engine import Engine
from services.recommendations.freshness import VIEW_RECORDED, Freshness
from services.recommendations.models import Context
from services.recommendations.store import StoredList
from services.recommendations.stores.sqlite import SqliteRecommendationStore
from streammesh.events.v1 import event_pb2
from streammesh.history.v1 import events_pb2, history_pb2
from tests.mesh import SAMPLE_CATALOG
from tests.recommendations import synthetic

BINGE = 12
WAIT_SECONDS = 10.0


def _view_event(profile_id: str, title_id: str) -> event_pb2.Event:
    view = history_pb2.View(
        view_id=f"{profile_id}-{title_id}",
        profile_id=profile_id,
        title_id=title_id,
        position_seconds=3600,
        duration_seconds=3600,
        country_code="GB",
    )
    return new_event(
        event_type=VIEW_RECORDED,
        data=events_pb2.ViewRecordedEvent(view=view, account_id="1"),
        source="history",
        aggregate_type="title",
        aggregate_id=title_id,
    )


async def test_a_binge_shares_one_computation_and_every_view_is_in_it(
    sqlite_store: SqliteRecommendationStore,
) -> None:
    catalog = synthetic.models_catalog(SAMPLE_CATALOG)
    engine = Engine(sqlite_store, catalog)
    binger, other = "101", "102"
    titles = [t.title_id for t in catalog if not t.country_codes][: BINGE + 1]
    computed: list[str] = []
    refresh = engine.refresh

    async def counted(profile_id: str, context: Context) -> StoredList:
        if profile_id == binger and binger not in computed:
            # The first computation is slow: every view of the binge is learned meanwhile.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT_SECONDS
            while len(engine.recommender.history(binger)) < BINGE:
                assert loop.time() < deadline, "the binge's views were not all learned"
                await asyncio.sleep(0.01)
        computed.append(profile_id)
        return await refresh(profile_id, context)

    engine.refresh = counted  # type: ignore[method-assign]
    freshness = Freshness(engine)
    delivery = Delivery("streammesh.history", "recommendations-freshness", "0-1", 1)
    events = [_view_event(binger, title_id) for title_id in titles[:BINGE]]
    events.append(_view_event(other, titles[BINGE]))
    await asyncio.gather(*(freshness.handle(event, delivery) for event in events))

    # The first view's computation, then one for the eleven learned meanwhile.
    assert computed.count(binger) == 2, computed
    assert computed.count(other) == 1, computed
    stored = await sqlite_store.get_list(binger)
    assert stored is not None
    listed = {item.title_id for item in stored.items}
    assert listed, stored
    assert not listed & set(titles[:BINGE])  # every view of the binge is in it
    assert len(await sqlite_store.interactions(binger)) == BINGE
    # Nothing is kept once no view is in flight.
    assert not freshness._profiles
