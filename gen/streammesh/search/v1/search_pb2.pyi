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

class SuggestionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUGGESTION_KIND_UNSPECIFIED: _ClassVar[SuggestionKind]
    SUGGESTION_KIND_TITLE: _ClassVar[SuggestionKind]
    SUGGESTION_KIND_PERSON: _ClassVar[SuggestionKind]
SUGGESTION_KIND_UNSPECIFIED: SuggestionKind
SUGGESTION_KIND_TITLE: SuggestionKind
SUGGESTION_KIND_PERSON: SuggestionKind

class TitleDocument(_message.Message):
    __slots__ = ("title_id", "title", "description", "release_year", "content_type", "genres", "maturity_rating", "country_codes", "cast", "directors")
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RELEASE_YEAR_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    GENRES_FIELD_NUMBER: _ClassVar[int]
    MATURITY_RATING_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODES_FIELD_NUMBER: _ClassVar[int]
    CAST_FIELD_NUMBER: _ClassVar[int]
    DIRECTORS_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    title: str
    description: str
    release_year: int
    content_type: str
    genres: _containers.RepeatedScalarFieldContainer[str]
    maturity_rating: str
    country_codes: _containers.RepeatedScalarFieldContainer[str]
    cast: _containers.RepeatedScalarFieldContainer[str]
    directors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, title_id: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., release_year: _Optional[int] = ..., content_type: _Optional[str] = ..., genres: _Optional[_Iterable[str]] = ..., maturity_rating: _Optional[str] = ..., country_codes: _Optional[_Iterable[str]] = ..., cast: _Optional[_Iterable[str]] = ..., directors: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchResult(_message.Message):
    __slots__ = ("title_id", "title", "content_type", "release_year", "maturity_rating", "highlight", "score")
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    RELEASE_YEAR_FIELD_NUMBER: _ClassVar[int]
    MATURITY_RATING_FIELD_NUMBER: _ClassVar[int]
    HIGHLIGHT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    title: str
    content_type: str
    release_year: int
    maturity_rating: str
    highlight: str
    score: float
    def __init__(self, title_id: _Optional[str] = ..., title: _Optional[str] = ..., content_type: _Optional[str] = ..., release_year: _Optional[int] = ..., maturity_rating: _Optional[str] = ..., highlight: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("q", "country", "max_maturity", "content_type", "genre", "page_size", "page_token", "release_year_min", "release_year_max", "profile_id")
    Q_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    MAX_MATURITY_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    GENRE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RELEASE_YEAR_MIN_FIELD_NUMBER: _ClassVar[int]
    RELEASE_YEAR_MAX_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    q: str
    country: str
    max_maturity: str
    content_type: str
    genre: str
    page_size: int
    page_token: str
    release_year_min: int
    release_year_max: int
    profile_id: str
    def __init__(self, q: _Optional[str] = ..., country: _Optional[str] = ..., max_maturity: _Optional[str] = ..., content_type: _Optional[str] = ..., genre: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., release_year_min: _Optional[int] = ..., release_year_max: _Optional[int] = ..., profile_id: _Optional[str] = ...) -> None: ...

class FacetBucket(_message.Message):
    __slots__ = ("value", "count")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    value: str
    count: int
    def __init__(self, value: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class Facet(_message.Message):
    __slots__ = ("field", "buckets")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    field: str
    buckets: _containers.RepeatedCompositeFieldContainer[FacetBucket]
    def __init__(self, field: _Optional[str] = ..., buckets: _Optional[_Iterable[_Union[FacetBucket, _Mapping]]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("results", "next_page_token", "total_size", "facets")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    FACETS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SearchResult]
    next_page_token: str
    total_size: int
    facets: _containers.RepeatedCompositeFieldContainer[Facet]
    def __init__(self, results: _Optional[_Iterable[_Union[SearchResult, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ..., facets: _Optional[_Iterable[_Union[Facet, _Mapping]]] = ...) -> None: ...

class SuggestRequest(_message.Message):
    __slots__ = ("prefix", "page_size", "max_maturity", "country", "profile_id")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_MATURITY_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    page_size: int
    max_maturity: str
    country: str
    profile_id: str
    def __init__(self, prefix: _Optional[str] = ..., page_size: _Optional[int] = ..., max_maturity: _Optional[str] = ..., country: _Optional[str] = ..., profile_id: _Optional[str] = ...) -> None: ...

class Suggestion(_message.Message):
    __slots__ = ("text", "title_id", "kind")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    text: str
    title_id: str
    kind: SuggestionKind
    def __init__(self, text: _Optional[str] = ..., title_id: _Optional[str] = ..., kind: _Optional[_Union[SuggestionKind, str]] = ...) -> None: ...

class SuggestResponse(_message.Message):
    __slots__ = ("suggestions",)
    SUGGESTIONS_FIELD_NUMBER: _ClassVar[int]
    suggestions: _containers.RepeatedCompositeFieldContainer[Suggestion]
    def __init__(self, suggestions: _Optional[_Iterable[_Union[Suggestion, _Mapping]]] = ...) -> None: ...

class IndexTitleRequest(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: TitleDocument
    def __init__(self, document: _Optional[_Union[TitleDocument, _Mapping]] = ...) -> None: ...

class IndexTitleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteTitleDocumentRequest(_message.Message):
    __slots__ = ("title_id",)
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    def __init__(self, title_id: _Optional[str] = ...) -> None: ...

class DeleteTitleDocumentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProfileSettings(_message.Message):
    __slots__ = ("maturity_rating", "kids_profile", "language_code")
    MATURITY_RATING_FIELD_NUMBER: _ClassVar[int]
    KIDS_PROFILE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CODE_FIELD_NUMBER: _ClassVar[int]
    maturity_rating: str
    kids_profile: bool
    language_code: str
    def __init__(self, maturity_rating: _Optional[str] = ..., kids_profile: _Optional[bool] = ..., language_code: _Optional[str] = ...) -> None: ...

class ApplyProfileSettingsRequest(_message.Message):
    __slots__ = ("saga_id", "step", "profile_id", "settings")
    SAGA_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    saga_id: str
    step: str
    profile_id: str
    settings: ProfileSettings
    def __init__(self, saga_id: _Optional[str] = ..., step: _Optional[str] = ..., profile_id: _Optional[str] = ..., settings: _Optional[_Union[ProfileSettings, _Mapping]] = ...) -> None: ...

class ApplyProfileSettingsResponse(_message.Message):
    __slots__ = ("replayed",)
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    replayed: bool
    def __init__(self, replayed: _Optional[bool] = ...) -> None: ...

class PurgeAccountDataRequest(_message.Message):
    __slots__ = ("saga_id", "step", "account_id", "profile_ids")
    SAGA_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_IDS_FIELD_NUMBER: _ClassVar[int]
    saga_id: str
    step: str
    account_id: str
    profile_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, saga_id: _Optional[str] = ..., step: _Optional[str] = ..., account_id: _Optional[str] = ..., profile_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class PurgeAccountDataResponse(_message.Message):
    __slots__ = ("deleted_count", "replayed")
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    deleted_count: int
    replayed: bool
    def __init__(self, deleted_count: _Optional[int] = ..., replayed: _Optional[bool] = ...) -> None: ...
