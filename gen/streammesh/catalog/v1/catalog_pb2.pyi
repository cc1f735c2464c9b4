import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from streammesh.options.v1 import visibility_pb2 as _visibility_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Title(_message.Message):
    __slots__ = ("title_id", "title", "description", "release_year", "duration_minutes", "seasons", "content_type", "genres", "maturity_rating", "country_codes", "language_codes", "cast", "directors", "add_time", "create_time", "update_time", "artwork")
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RELEASE_YEAR_FIELD_NUMBER: _ClassVar[int]
    DURATION_MINUTES_FIELD_NUMBER: _ClassVar[int]
    SEASONS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    GENRES_FIELD_NUMBER: _ClassVar[int]
    MATURITY_RATING_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODES_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODES_FIELD_NUMBER: _ClassVar[int]
    CAST_FIELD_NUMBER: _ClassVar[int]
    DIRECTORS_FIELD_NUMBER: _ClassVar[int]
    ADD_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ARTWORK_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    title: str
    description: str
    release_year: int
    duration_minutes: int
    seasons: int
    content_type: str
    genres: _containers.RepeatedScalarFieldContainer[str]
    maturity_rating: str
    country_codes: _containers.RepeatedScalarFieldContainer[str]
    language_codes: _containers.RepeatedScalarFieldContainer[str]
    cast: _containers.RepeatedScalarFieldContainer[str]
    directors: _containers.RepeatedScalarFieldContainer[str]
    add_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    artwork: Artwork
    def __init__(self, title_id: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., release_year: _Optional[int] = ..., duration_minutes: _Optional[int] = ..., seasons: _Optional[int] = ..., content_type: _Optional[str] = ..., genres: _Optional[_Iterable[str]] = ..., maturity_rating: _Optional[str] = ..., country_codes: _Optional[_Iterable[str]] = ..., language_codes: _Optional[_Iterable[str]] = ..., cast: _Optional[_Iterable[str]] = ..., directors: _Optional[_Iterable[str]] = ..., add_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., artwork: _Optional[_Union[Artwork, _Mapping]] = ...) -> None: ...

class Artwork(_message.Message):
    __slots__ = ("poster_url",)
    POSTER_URL_FIELD_NUMBER: _ClassVar[int]
    poster_url: str
    def __init__(self, poster_url: _Optional[str] = ...) -> None: ...

class TitleMetadata(_message.Message):
    __slots__ = ("title_id", "poster_url", "trailer_url", "synopsis")
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    POSTER_URL_FIELD_NUMBER: _ClassVar[int]
    TRAILER_URL_FIELD_NUMBER: _ClassVar[int]
    SYNOPSIS_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    poster_url: str
    trailer_url: str
    synopsis: str
    def __init__(self, title_id: _Optional[str] = ..., poster_url: _Optional[str] = ..., trailer_url: _Optional[str] = ..., synopsis: _Optional[str] = ...) -> None: ...

class Availability(_message.Message):
    __slots__ = ("country_code", "available_from", "available_until")
    COUNTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FROM_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    country_code: str
    available_from: _timestamp_pb2.Timestamp
    available_until: _timestamp_pb2.Timestamp
    def __init__(self, country_code: _Optional[str] = ..., available_from: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., available_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetTitleRequest(_message.Message):
    __slots__ = ("title_id",)
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    def __init__(self, title_id: _Optional[str] = ...) -> None: ...

class BatchGetTitlesRequest(_message.Message):
    __slots__ = ("title_ids",)
    TITLE_IDS_FIELD_NUMBER: _ClassVar[int]
    title_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, title_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchGetTitlesResponse(_message.Message):
    __slots__ = ("titles", "missing_title_ids")
    TITLES_FIELD_NUMBER: _ClassVar[int]
    MISSING_TITLE_IDS_FIELD_NUMBER: _ClassVar[int]
    titles: _containers.RepeatedCompositeFieldContainer[Title]
    missing_title_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, titles: _Optional[_Iterable[_Union[Title, _Mapping]]] = ..., missing_title_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListTitlesRequest(_message.Message):
    __slots__ = ("country", "max_maturity", "content_type", "genre", "page_size", "page_token")
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    MAX_MATURITY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    GENRE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    country: str
    max_maturity: str
    content_type: str
    genre: str
    page_size: int
    page_token: str
    def __init__(self, country: _Optional[str] = ..., max_maturity: _Optional[str] = ..., content_type: _Optional[str] = ..., genre: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTitlesResponse(_message.Message):
    __slots__ = ("titles", "next_page_token")
    TITLES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    titles: _containers.RepeatedCompositeFieldContainer[Title]
    next_page_token: str
    def __init__(self, titles: _Optional[_Iterable[_Union[Title, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateTitleRequest(_message.Message):
    __slots__ = ("title", "availability", "metadata")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    title: Title
    availability: _containers.RepeatedCompositeFieldContainer[Availability]
    metadata: TitleMetadata
    def __init__(self, title: _Optional[_Union[Title, _Mapping]] = ..., availability: _Optional[_Iterable[_Union[Availability, _Mapping]]] = ..., metadata: _Optional[_Union[TitleMetadata, _Mapping]] = ...) -> None: ...

class UpdateTitleRequest(_message.Message):
    __slots__ = ("title", "update_mask", "allow_missing")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    ALLOW_MISSING_FIELD_NUMBER: _ClassVar[int]
    title: Title
    update_mask: _field_mask_pb2.FieldMask
    allow_missing: bool
    def __init__(self, title: _Optional[_Union[Title, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., allow_missing: _Optional[bool] = ...) -> None: ...

class GetTitleMetadataRequest(_message.Message):
    __slots__ = ("title_id",)
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    def __init__(self, title_id: _Optional[str] = ...) -> None: ...

class UpdateTitleMetadataRequest(_message.Message):
    __slots__ = ("metadata",)
    METADATA_FIELD_NUMBER: _ClassVar[int]
    metadata: TitleMetadata
    def __init__(self, metadata: _Optional[_Union[TitleMetadata, _Mapping]] = ...) -> None: ...

class CreateArtworkUploadRequest(_message.Message):
    __slots__ = ("title_id", "content_type", "content_length", "expires_in_seconds")
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    content_type: str
    content_length: int
    expires_in_seconds: int
    def __init__(self, title_id: _Optional[str] = ..., content_type: _Optional[str] = ..., content_length: _Optional[int] = ..., expires_in_seconds: _Optional[int] = ...) -> None: ...

class CreateArtworkUploadResponse(_message.Message):
    __slots__ = ("upload_id", "upload_url", "headers", "expire_time")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_URL_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    upload_url: str
    headers: _containers.ScalarMap[str, str]
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, upload_id: _Optional[str] = ..., upload_url: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CompleteArtworkUploadRequest(_message.Message):
    __slots__ = ("title_id", "upload_id")
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    upload_id: str
    def __init__(self, title_id: _Optional[str] = ..., upload_id: _Optional[str] = ...) -> None: ...

class CompleteArtworkUploadResponse(_message.Message):
    __slots__ = ("artwork", "metadata")
    ARTWORK_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    artwork: Artwork
    metadata: TitleMetadata
    def __init__(self, artwork: _Optional[_Union[Artwork, _Mapping]] = ..., metadata: _Optional[_Union[TitleMetadata, _Mapping]] = ...) -> None: ...

class ListTitleAvailabilityRequest(_message.Message):
    __slots__ = ("title_id", "page_size", "page_token")
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    page_size: int
    page_token: str
    def __init__(self, title_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListTitleAvailabilityResponse(_message.Message):
    __slots__ = ("availability", "next_page_token")
    AVAILABILITY_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    availability: _containers.RepeatedCompositeFieldContainer[Availability]
    next_page_token: str
    def __init__(self, availability: _Optional[_Iterable[_Union[Availability, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
