"""Title rules both stores apply the same way: defaults, field masks, windows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from google.protobuf.timestamp_pb2 import Timestamp

from services.runtime.errors import FieldViolation, InvalidArgument
from streammesh.catalog.v1 import catalog_pb2

# Paths UpdateTitle accepts; an empty mask means all of them (AIP-134 replace).
UPDATABLE_PATHS: Final = (
    "title",
    "description",
    "release_year",
    "duration_minutes",
    "seasons",
    "content_type",
    "genres",
    "maturity_rating",
    "country_codes",
    "language_codes",
    "cast",
    "directors",
    "add_time",
)
_LENGTH_ONEOF: Final = ("duration_minutes", "seasons")
# Everywhere-titles are listed under this pseudo-country; every title is also
# listed under ALL_COUNTRIES for listings without a country filter.
EVERYWHERE: Final = "*"
ALL_COUNTRIES: Final = "_all"


@dataclass(frozen=True)
class Window:
    """When a title may be watched in one country; None bounds are open."""

    from_ms: int | None = None
    until_ms: int | None = None

    def open_at(self, now_ms: int) -> bool:
        if self.from_ms is not None and now_ms < self.from_ms:
            return False
        return self.until_ms is None or now_ms < self.until_ms


def to_ms(ts: Timestamp) -> int:
    return ts.seconds * 1000 + ts.nanos // 1_000_000


def from_ms(ms: int) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(ms)
    return ts


def windows_of(
    country_codes: Iterable[str], availability: Sequence[catalog_pb2.Availability]
) -> dict[str, Window]:
    """Each country's window: the one given in ``availability``, else always open."""
    windows = {code: Window() for code in country_codes}
    for entry in availability:
        windows[entry.country_code] = Window(
            to_ms(entry.available_from) if entry.HasField("available_from") else None,
            to_ms(entry.available_until) if entry.HasField("available_until") else None,
        )
    return windows


def availability_of(windows: dict[str, Window]) -> list[catalog_pb2.Availability]:
    entries = []
    for code in sorted(windows):
        window = windows[code]
        entry = catalog_pb2.Availability(country_code=code)
        if window.from_ms is not None:
            entry.available_from.CopyFrom(from_ms(window.from_ms))
        if window.until_ms is not None:
            entry.available_until.CopyFrom(from_ms(window.until_ms))
        entries.append(entry)
    return entries


def prepare_new(
    title: catalog_pb2.Title, availability: Sequence[catalog_pb2.Availability], now_ms: int
) -> tuple[catalog_pb2.Title, dict[str, Window]]:
    """The title as stored: stamped, countries merged with the availability list."""
    if not title.title_id:
        raise InvalidArgument.for_field("title.title_id", "is required", reason="REQUIRED")
    stored = catalog_pb2.Title()
    stored.CopyFrom(title)
    windows = windows_of(title.country_codes, availability)
    _set_countries(stored, windows)
    if not stored.HasField("add_time"):
        stored.add_time.CopyFrom(from_ms(now_ms))
    stored.add_time.CopyFrom(from_ms(to_ms(stored.add_time)))  # stores keep milliseconds
    stored.create_time.CopyFrom(from_ms(now_ms))
    stored.update_time.CopyFrom(from_ms(now_ms))
    return stored, windows


def apply_mask(
    current: catalog_pb2.Title,
    patch: catalog_pb2.Title,
    paths: Sequence[str],
    current_windows: dict[str, Window],
    now_ms: int,
) -> tuple[catalog_pb2.Title, dict[str, Window]]:
    """``current`` with ``paths`` of ``patch`` applied, and the resulting windows.

    Countries that stay keep their window; new ones are open; dropped ones go.
    """
    unknown = [p for p in paths if p not in UPDATABLE_PATHS]
    if unknown:
        raise InvalidArgument(
            "update_mask names fields that cannot be updated",
            reason="INVALID_UPDATE_MASK",
            violations=[
                FieldViolation("update_mask", f"{p!r} is not an updatable field") for p in unknown
            ],
        )
    updated = catalog_pb2.Title()
    updated.CopyFrom(current)
    for path in paths or UPDATABLE_PATHS:
        if path in _LENGTH_ONEOF:
            if patch.WhichOneof("length") == path:
                setattr(updated, path, getattr(patch, path))
            elif updated.WhichOneof("length") == path:
                updated.ClearField(path)
        elif path == "add_time":
            if patch.HasField("add_time"):
                updated.add_time.CopyFrom(from_ms(to_ms(patch.add_time)))
        elif path in ("genres", "language_codes", "cast", "directors", "country_codes"):
            field = getattr(updated, path)
            del field[:]
            field.extend(getattr(patch, path))
        else:
            setattr(updated, path, getattr(patch, path))
    windows = {code: current_windows.get(code, Window()) for code in updated.country_codes}
    _set_countries(updated, windows)
    updated.title_id = current.title_id
    updated.create_time.CopyFrom(current.create_time)
    updated.update_time.CopyFrom(from_ms(now_ms))
    return updated, windows


def _set_countries(title: catalog_pb2.Title, windows: dict[str, Window]) -> None:
    del title.country_codes[:]
    title.country_codes.extend(sorted(windows))


def same_content(a: catalog_pb2.Title, b: catalog_pb2.Title) -> bool:
    """Whether two titles differ only in their output-only timestamps."""
    left, right = catalog_pb2.Title(), catalog_pb2.Title()
    left.CopyFrom(a)
    right.CopyFrom(b)
    for title in (left, right):
        title.ClearField("create_time")
        title.ClearField("update_time")
    return left == right


def listing_partitions(title: catalog_pb2.Title) -> list[str]:
    """The listing partitions a title appears in."""
    return [*(title.country_codes or [EVERYWHERE]), ALL_COUNTRIES]
