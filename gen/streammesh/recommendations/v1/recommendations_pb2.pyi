import datetime

from buf.validate import validate_pb2 as _validate_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from streammesh.options.v1 import visibility_pb2 as _visibility_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReasonKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_KIND_UNSPECIFIED: _ClassVar[ReasonKind]
    REASON_KIND_BECAUSE_YOU_WATCHED: _ClassVar[ReasonKind]
    REASON_KIND_POPULAR_IN_COUNTRY: _ClassVar[ReasonKind]
    REASON_KIND_MORE_LIKE_GENRE: _ClassVar[ReasonKind]
REASON_KIND_UNSPECIFIED: ReasonKind
REASON_KIND_BECAUSE_YOU_WATCHED: ReasonKind
REASON_KIND_POPULAR_IN_COUNTRY: ReasonKind
REASON_KIND_MORE_LIKE_GENRE: ReasonKind

class Recommendation(_message.Message):
    __slots__ = ("title_id", "score", "reason", "compute_time", "reason_kind", "source_title_id", "reason_subject")
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_KIND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    score: float
    reason: str
    compute_time: _timestamp_pb2.Timestamp
    reason_kind: ReasonKind
    source_title_id: str
    reason_subject: str
    def __init__(self, title_id: _Optional[str] = ..., score: _Optional[float] = ..., reason: _Optional[str] = ..., compute_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason_kind: _Optional[_Union[ReasonKind, str]] = ..., source_title_id: _Optional[str] = ..., reason_subject: _Optional[str] = ...) -> None: ...

class ListRecommendationsRequest(_message.Message):
    __slots__ = ("profile_id", "page_size", "page_token")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    page_size: int
    page_token: str
    def __init__(self, profile_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRecommendationsResponse(_message.Message):
    __slots__ = ("recommendations", "next_page_token")
    RECOMMENDATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    recommendations: _containers.RepeatedCompositeFieldContainer[Recommendation]
    next_page_token: str
    def __init__(self, recommendations: _Optional[_Iterable[_Union[Recommendation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListSimilarTitlesRequest(_message.Message):
    __slots__ = ("profile_id", "title_id", "page_size", "page_token")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    title_id: str
    page_size: int
    page_token: str
    def __init__(self, profile_id: _Optional[str] = ..., title_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSimilarTitlesResponse(_message.Message):
    __slots__ = ("similar_titles", "next_page_token")
    SIMILAR_TITLES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    similar_titles: _containers.RepeatedCompositeFieldContainer[Recommendation]
    next_page_token: str
    def __init__(self, similar_titles: _Optional[_Iterable[_Union[Recommendation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RefreshRecommendationsRequest(_message.Message):
    __slots__ = ("profile_id",)
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    def __init__(self, profile_id: _Optional[str] = ...) -> None: ...

class RefreshRecommendationsResponse(_message.Message):
    __slots__ = ("recommendation_count", "compute_time")
    RECOMMENDATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_TIME_FIELD_NUMBER: _ClassVar[int]
    recommendation_count: int
    compute_time: _timestamp_pb2.Timestamp
    def __init__(self, recommendation_count: _Optional[int] = ..., compute_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

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
