"""Freshness: a view changes its profile's recommendations within seconds.

A consumer group ("recommendations-freshness") on the history's stream
(``streammesh.history``) runs :meth:`Freshness.handle` for every
``history.view.recorded`` event; other event types are ignored. For the view
it stores the profile's interaction with the title (furthest completion,
latest time), teaches the models the change (co-occurrence with the
profile's other titles, the country's popularity), and recomputes and stores
that profile's list (services/recommendations/engine.py says for which
context). One profile's views are handled one at a time (a lock per
profile): the history's events are keyed by title, so two views of one
profile may arrive together.

Replays are harmless: the interaction merge keeps the furthest completion
and the latest time, and learning the same interaction again changes
nothing. ``streammesh_recommendations_view_to_list_seconds`` observes, per
view, the time from the view's event to its profile's list being stored.
"""

from __future__ import annotations

import time
from typing import Final

from prometheus_client import Histogram

from services.events.consumer import Delivery
from services.events.envelope import unpack
from services.recommendations.engine import Engine
from services.recommendations.models import Interaction
from services.runtime.locks import KeyedLocks
from streammesh.events.v1 import event_pb2
from streammesh.history.v1 import events_pb2

GROUP: Final = "recommendations-freshness"
HISTORY: Final = "history"
VIEW_RECORDED: Final = "history.view.recorded"

VIEW_TO_LIST: Final = Histogram(
    "streammesh_recommendations_view_to_list_seconds",
    "Seconds from a view's event to its profile's recommendations being stored.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


def interaction_of(recorded: events_pb2.ViewRecordedEvent) -> Interaction:
    view = recorded.view
    completion = 0.0
    if view.duration_seconds > 0:
        completion = min(view.position_seconds / view.duration_seconds, 1.0)
    elif view.completed:
        completion = 1.0
    return Interaction(
        profile_id=view.profile_id,
        title_id=view.title_id,
        completion=completion,
        watch_time_ms=view.watch_time.ToMilliseconds(),
        country_code=view.country_code,
    )


class Freshness:
    """The handler of the "recommendations-freshness" consumer group."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._locks: KeyedLocks[str] = KeyedLocks()

    async def handle(self, event: event_pb2.Event, delivery: Delivery) -> None:
        if event.event_type != VIEW_RECORDED:
            return
        recorded = unpack(event, events_pb2.ViewRecordedEvent)
        assert isinstance(recorded, events_pb2.ViewRecordedEvent)
        interaction = interaction_of(recorded)
        async with self._locks.hold(interaction.profile_id):
            await self._engine.observe(interaction)
            stored = await self._engine.store.get_list(interaction.profile_id)
            context = (
                stored.context
                if stored is not None
                else self._engine.default_context(interaction.profile_id, interaction.country_code)
            )
            await self._engine.refresh(interaction.profile_id, context)
        delay = time.time() - event.timestamp.ToNanoseconds() / 1e9
        VIEW_TO_LIST.observe(max(delay, 0.0))
