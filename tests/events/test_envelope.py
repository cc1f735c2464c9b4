"""The envelope: validated at birth, typed data, trace context that consumers link to."""

from __future__ import annotations

import uuid

import pytest
from google.protobuf import wrappers_pb2
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.events.envelope import InvalidEvent, consumer_span, new_event, unpack
from services.events.outbox import outbox_values
from services.runtime.telemetry import setup_tracing


def _event(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "event_type": "user.profile.updated",
        "data": wrappers_pb2.StringValue(value="x"),
        "source": "users",
        "aggregate_type": "account",
        "aggregate_id": "7",
    }
    fields.update(overrides)
    return fields


def test_a_malformed_event_type_is_rejected_naming_the_field() -> None:
    with pytest.raises(InvalidEvent, match=r"event_type: does not match"):
        new_event(**_event(event_type="UserProfileUpdated"))  # type: ignore[arg-type]


def test_an_empty_source_is_rejected_naming_the_field() -> None:
    with pytest.raises(InvalidEvent, match=r"source: must be at least 1"):
        new_event(**_event(source=""))  # type: ignore[arg-type]


def test_a_new_event_has_the_case_study_fields() -> None:
    event = new_event(
        **_event(),  # type: ignore[arg-type]
        event_version=2,
        correlation_id="flow-1",
        request_id="req-9",
    )
    assert uuid.UUID(event.event_id).version == 4
    assert event.event_type == "user.profile.updated"
    assert event.event_version == 2
    assert event.timestamp.seconds > 0
    assert event.source == "users"
    assert (event.aggregate_type, event.aggregate_id) == ("account", "7")
    assert event.metadata.correlation_id == "flow-1"
    assert event.metadata.request_id == "req-9"
    assert unpack(event, wrappers_pb2.StringValue) == wrappers_pb2.StringValue(value="x")


def test_unpacking_the_wrong_type_names_both_types() -> None:
    event = new_event(**_event())  # type: ignore[arg-type]
    with pytest.raises(InvalidEvent, match=r"StringValue, not google\.protobuf\.Int64Value"):
        unpack(event, wrappers_pb2.Int64Value)


def test_the_outbox_row_carries_the_serialized_envelope() -> None:
    event = new_event(**_event())  # type: ignore[arg-type]
    row = outbox_values(event)
    assert row["event_id"] == event.event_id
    assert row["payload"] == event.SerializeToString()
    assert row["published_at"] is None
    assert row["created_at"].tzinfo is None


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    provider = setup_tracing("events-test")
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def test_the_consumer_span_links_to_the_producing_request(spans: InMemorySpanExporter) -> None:
    assert isinstance(trace.get_tracer_provider(), TracerProvider)
    tracer = trace.get_tracer("producer")
    with tracer.start_as_current_span("UpdateProfile") as producer:
        event = new_event(**_event())  # type: ignore[arg-type]
    produced = producer.get_span_context()
    assert event.trace_context.traceparent.split("-")[1] == format(produced.trace_id, "032x")

    spans.clear()
    with consumer_span(event, "streammesh.users process"):
        pass
    (consumed,) = [span for span in spans.get_finished_spans() if span.name.endswith("process")]
    assert consumed.kind == trace.SpanKind.CONSUMER
    # Linked, not parented: its own trace that points at the producer's span.
    assert consumed.parent is None
    assert consumed.context.trace_id != produced.trace_id
    (link,) = consumed.links
    assert (link.context.trace_id, link.context.span_id) == (produced.trace_id, produced.span_id)


def test_an_untraced_event_gets_a_consumer_span_without_links(
    spans: InMemorySpanExporter,
) -> None:
    event = new_event(**_event())  # type: ignore[arg-type]
    assert event.trace_context.traceparent == ""
    spans.clear()
    with consumer_span(event, "untraced process"):
        pass
    (consumed,) = spans.get_finished_spans()
    assert not consumed.links
