"""Stream names, entry fields and retention: what every part of the backbone agrees on.

One stream per producing domain: ``streammesh.users``, ``streammesh.catalog``
... A key prefix (empty in production) keeps test runs apart. Every key the
backbone owns for a stream is derived from the stream's name, so one prefix
isolates everything.

Retention: the relay trims with ``XADD MAXLEN ~ N`` (``DEFAULT_STREAM_MAXLEN``,
per stream, approximate so trimming costs O(1) amortised); the dead-letter
stream keeps ``DEFAULT_DLQ_MAXLEN``. A consumer group that falls more than N
entries behind loses the oldest ones, which is why its lag is a metric with an
alert: at the case study's volumes N = 100,000 holds hours of events, and the
outbox itself keeps published rows for ``OUTBOX_RETENTION`` so a lost range
can be re-published from the producer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

DEFAULT_STREAM_MAXLEN: Final = 100_000
DEFAULT_DLQ_MAXLEN: Final = 10_000
OUTBOX_RETENTION: Final = timedelta(days=7)

# Field names of a stream entry. `payload` is the serialized Event; the others
# are copies so operators and routing can read an entry without decoding it.
EVENT_ID: Final = "event_id"
EVENT_TYPE: Final = "event_type"
AGGREGATE_TYPE: Final = "aggregate_type"
AGGREGATE_ID: Final = "aggregate_id"
PAYLOAD: Final = "payload"
ENTRY_FIELDS: Final = (EVENT_ID, EVENT_TYPE, AGGREGATE_TYPE, AGGREGATE_ID, PAYLOAD)

# Extra fields of a dead-letter entry.
DLQ_ERROR: Final = "error"
DLQ_SOURCE_STREAM: Final = "source_stream"
DLQ_SOURCE_ID: Final = "source_id"
DLQ_GROUP: Final = "group"
DLQ_DELIVERIES: Final = "deliveries"
DLQ_FAILED_AT: Final = "failed_at"
DLQ_FIELDS: Final = (
    DLQ_ERROR,
    DLQ_SOURCE_STREAM,
    DLQ_SOURCE_ID,
    DLQ_GROUP,
    DLQ_DELIVERIES,
    DLQ_FAILED_AT,
)


def stream_name(domain: str, prefix: str = "") -> str:
    """The stream of one producing domain: ``streammesh.users``."""
    return f"{prefix}streammesh.{domain}"


def dlq_name(stream: str) -> str:
    """The dead-letter stream of ``stream``: ``streammesh.users.dlq``."""
    return f"{stream}.dlq"


def relay_lease_key(stream: str, source: str) -> str:
    """Held by the one relay allowed to publish ``source``'s outbox."""
    return f"{stream}:relay:{source}:lease"


def group_lease_key(stream: str, group: str) -> str:
    """Held by the one consumer of ``group`` allowed to process entries."""
    return f"{stream}:group:{group}:lease"


def dedupe_key(stream: str, group: str, event_id: str) -> str:
    """Marks ``event_id`` as handled by ``group``."""
    return f"{stream}:group:{group}:done:{event_id}"


@dataclass(frozen=True)
class StreamEntry:
    """One entry read from a stream, fields decoded from Redis' bytes."""

    entry_id: str
    fields: dict[str, bytes]

    @classmethod
    def from_redis(cls, entry_id: bytes | str, fields: dict[bytes, bytes]) -> StreamEntry:
        return cls(
            entry_id=_text(entry_id),
            fields={_text(key): value for key, value in fields.items()},
        )

    def text(self, name: str) -> str:
        """A field as text ('' when absent)."""
        return _text(self.fields.get(name, b""))

    @property
    def event_id(self) -> str:
        return self.text(EVENT_ID)

    @property
    def aggregate_key(self) -> str:
        """Entries with the same key are handled in stream order.

        An entry without an aggregate is its own key: nothing orders it.
        """
        aggregate_id = self.text(AGGREGATE_ID)
        if not aggregate_id:
            return f"entry:{self.entry_id}"
        return f"{self.text(AGGREGATE_TYPE)}/{aggregate_id}"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
