"""The catalog's domain events, written to the outbox with the change itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from services.events.envelope import new_event
from streammesh.catalog.v1 import catalog_pb2, events_pb2

SOURCE: Final = "catalog"
AGGREGATE_TYPE: Final = "title"
TITLE_CREATED: Final = "catalog.title.created"
TITLE_UPDATED: Final = "catalog.title.updated"


@dataclass(frozen=True)
class OutboxRow:
    """One outbox row (the shape every service's outbox shares)."""

    event_id: str
    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: bytes
    created_at_ms: int


def title_created(
    title: catalog_pb2.Title, availability: Sequence[catalog_pb2.Availability], now_ms: int
) -> OutboxRow:
    data = events_pb2.TitleCreatedEvent(title=title, availability=availability)
    return _row(TITLE_CREATED, title.title_id, data, now_ms)


def title_updated(title: catalog_pb2.Title, paths: Sequence[str], now_ms: int) -> OutboxRow:
    data = events_pb2.TitleUpdatedEvent(title=title, update_mask=FieldMask(paths=list(paths)))
    return _row(TITLE_UPDATED, title.title_id, data, now_ms)


def _row(event_type: str, aggregate_id: str, data: Message, now_ms: int) -> OutboxRow:
    event = new_event(
        event_type=event_type,
        data=data,
        source=SOURCE,
        aggregate_type=AGGREGATE_TYPE,
        aggregate_id=aggregate_id,
        occurred_at=datetime.fromtimestamp(now_ms / 1000, UTC),
    )
    return OutboxRow(
        event.event_id, AGGREGATE_TYPE, aggregate_id, event_type, event.SerializeToString(), now_ms
    )
