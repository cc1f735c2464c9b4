"""The catalog's domain events, written to the outbox with the change itself."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message
from opentelemetry import propagate

from services.catalog.titles import from_ms
from streammesh.catalog.v1 import catalog_pb2, events_pb2
from streammesh.events.v1 import event_pb2

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
    event_id = str(uuid.uuid4())
    packed = AnyMessage()
    packed.Pack(data)
    # The caller's trace context travels with the event so consumers link to it.
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    event = event_pb2.Event(
        event_id=event_id,
        event_type=event_type,
        event_version=1,
        timestamp=from_ms(now_ms),
        source=SOURCE,
        aggregate_type=AGGREGATE_TYPE,
        aggregate_id=aggregate_id,
        data=packed,
        trace_context=event_pb2.TraceContext(
            traceparent=carrier.get("traceparent", ""), tracestate=carrier.get("tracestate", "")
        ),
    )
    return OutboxRow(
        event_id, AGGREGATE_TYPE, aggregate_id, event_type, event.SerializeToString(), now_ms
    )
