from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from streammesh.options.v1 import visibility_pb2 as _visibility_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RowKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROW_KIND_UNSPECIFIED: _ClassVar[RowKind]
    ROW_KIND_CONTINUE_WATCHING: _ClassVar[RowKind]
    ROW_KIND_RECOMMENDED: _ClassVar[RowKind]
    ROW_KIND_TRENDING: _ClassVar[RowKind]
    ROW_KIND_NEW_IN_COUNTRY: _ClassVar[RowKind]
    ROW_KIND_GENRE: _ClassVar[RowKind]
ROW_KIND_UNSPECIFIED: RowKind
ROW_KIND_CONTINUE_WATCHING: RowKind
ROW_KIND_RECOMMENDED: RowKind
ROW_KIND_TRENDING: RowKind
ROW_KIND_NEW_IN_COUNTRY: RowKind
ROW_KIND_GENRE: RowKind

class TitleCard(_message.Message):
    __slots__ = ("title_id", "title", "content_type", "release_year", "maturity_rating", "genres", "position_seconds", "duration_seconds", "poster_url")
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    RELEASE_YEAR_FIELD_NUMBER: _ClassVar[int]
    MATURITY_RATING_FIELD_NUMBER: _ClassVar[int]
    GENRES_FIELD_NUMBER: _ClassVar[int]
    POSITION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    POSTER_URL_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    title: str
    content_type: str
    release_year: int
    maturity_rating: str
    genres: _containers.RepeatedScalarFieldContainer[str]
    position_seconds: int
    duration_seconds: int
    poster_url: str
    def __init__(self, title_id: _Optional[str] = ..., title: _Optional[str] = ..., content_type: _Optional[str] = ..., release_year: _Optional[int] = ..., maturity_rating: _Optional[str] = ..., genres: _Optional[_Iterable[str]] = ..., position_seconds: _Optional[int] = ..., duration_seconds: _Optional[int] = ..., poster_url: _Optional[str] = ...) -> None: ...

class Row(_message.Message):
    __slots__ = ("row_id", "kind", "heading", "cards")
    ROW_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    HEADING_FIELD_NUMBER: _ClassVar[int]
    CARDS_FIELD_NUMBER: _ClassVar[int]
    row_id: str
    kind: RowKind
    heading: str
    cards: _containers.RepeatedCompositeFieldContainer[TitleCard]
    def __init__(self, row_id: _Optional[str] = ..., kind: _Optional[_Union[RowKind, str]] = ..., heading: _Optional[str] = ..., cards: _Optional[_Iterable[_Union[TitleCard, _Mapping]]] = ...) -> None: ...

class RowFailure(_message.Message):
    __slots__ = ("row_id", "kind", "code", "reason")
    ROW_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    row_id: str
    kind: RowKind
    code: str
    reason: str
    def __init__(self, row_id: _Optional[str] = ..., kind: _Optional[_Union[RowKind, str]] = ..., code: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Home(_message.Message):
    __slots__ = ("profile_id", "rows", "failed_rows")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    FAILED_ROWS_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    rows: _containers.RepeatedCompositeFieldContainer[Row]
    failed_rows: _containers.RepeatedCompositeFieldContainer[RowFailure]
    def __init__(self, profile_id: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[Row, _Mapping]]] = ..., failed_rows: _Optional[_Iterable[_Union[RowFailure, _Mapping]]] = ...) -> None: ...

class GetHomeRequest(_message.Message):
    __slots__ = ("profile_id", "cards_per_row")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    CARDS_PER_ROW_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    cards_per_row: int
    def __init__(self, profile_id: _Optional[str] = ..., cards_per_row: _Optional[int] = ...) -> None: ...
