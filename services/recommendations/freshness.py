"""Freshness: a view changes its profile's recommendations within seconds.

A consumer group ("recommendations-freshness") on the history's stream
(``streammesh.history``) runs :meth:`Freshness.handle` for every
``history.view.recorded`` event; other event types are ignored. For the view
it stores the profile's interaction with the title (furthest completion,
latest time), teaches the models the change (co-occurrence with the
profile's other titles, the country's popularity), and recomputes and stores
that profile's list (services/recommendations/engine.py says for which
context). One profile's lists are computed one at a time (a lock per
profile): the history's events are keyed by title, so two views of one
profile may arrive together.

Views of one profile that arrive while its list is being computed share the
next computation: each view is learned at once, and a view whose profile's
list was computed after it was learned is done without computing again. A
burst of views (a binge, a device's offline views sent together, `streammesh
seed-views`) used to cost one full computation per view, one after another on
the event loop, so the burst's last view waited for all of them; it now
costs one per profile in the burst.

Replays are harmless: the interaction merge keeps the furthest completion
and the latest time, and learning the same interaction again changes
nothing. ``streammesh_recommendations_view_to_list_seconds`` observes, per
view, the time from the view's event to its profile's list being stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
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


@dataclass
class _Profile:
    """A profile with views being handled."""

    # Views of it learned so far, and how many of them its stored list covers.
    learned: int = 0
    covered: int = 0
    # Handlers of its views running now; the entry goes when none is.
    in_flight: int = 0


class Freshness:
    """The handler of the "recommendations-freshness" consumer group."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._locks: KeyedLocks[str] = KeyedLocks()
        # Bounded by the profiles with a view in flight (the consumer's concurrency).
        self._profiles: dict[str, _Profile] = {}

    async def handle(self, event: event_pb2.Event, delivery: Delivery) -> None:
        if event.event_type != VIEW_RECORDED:
            return
        recorded = unpack(event, events_pb2.ViewRecordedEvent)
        assert isinstance(recorded, events_pb2.ViewRecordedEvent)
        interaction = interaction_of(recorded)
        profile_id = interaction.profile_id
        profile = self._profiles.setdefault(profile_id, _Profile())
        profile.in_flight += 1
        try:
            # Not under the profile's lock: views of one title come one at a
            # time, and each view touches only its own title's row.
            await self._engine.observe(interaction)
            profile.learned += 1
            mine = profile.learned
            async with self._locks.hold(profile_id):
                if profile.covered < mine:
                    # Everything learned by now is in the list computed next.
                    covering = profile.learned
                    stored = await self._engine.store.get_list(profile_id)
                    context = (
                        stored.context
                        if stored is not None
                        else self._engine.default_context(profile_id, interaction.country_code)
                    )
                    await self._engine.refresh(profile_id, context)
                    profile.covered = covering
        finally:
            profile.in_flight -= 1
            if profile.in_flight == 0:
                del self._profiles[profile_id]
        delay = time.time() - event.timestamp.ToNanoseconds() / 1e9
        VIEW_TO_LIST.observe(max(delay, 0.0))
