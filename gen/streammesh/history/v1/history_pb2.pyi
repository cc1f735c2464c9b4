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

class TrendingWindow(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRENDING_WINDOW_UNSPECIFIED: _ClassVar[TrendingWindow]
    TRENDING_WINDOW_DAY: _ClassVar[TrendingWindow]
    TRENDING_WINDOW_WEEK: _ClassVar[TrendingWindow]
TRENDING_WINDOW_UNSPECIFIED: TrendingWindow
TRENDING_WINDOW_DAY: TrendingWindow
TRENDING_WINDOW_WEEK: TrendingWindow

class View(_message.Message):
    __slots__ = ("view_id", "profile_id", "title_id", "watch_time", "position_seconds", "duration_seconds", "device_type", "country_code", "completed")
    VIEW_ID_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    WATCH_TIME_FIELD_NUMBER: _ClassVar[int]
    POSITION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_CODE_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    view_id: str
    profile_id: str
    title_id: str
    watch_time: _timestamp_pb2.Timestamp
    position_seconds: int
    duration_seconds: int
    device_type: str
    country_code: str
    completed: bool
    def __init__(self, view_id: _Optional[str] = ..., profile_id: _Optional[str] = ..., title_id: _Optional[str] = ..., watch_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., position_seconds: _Optional[int] = ..., duration_seconds: _Optional[int] = ..., device_type: _Optional[str] = ..., country_code: _Optional[str] = ..., completed: _Optional[bool] = ...) -> None: ...

class ContinueWatchingItem(_message.Message):
    __slots__ = ("title_id", "position_seconds", "duration_seconds", "last_watch_time")
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LAST_WATCH_TIME_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    position_seconds: int
    duration_seconds: int
    last_watch_time: _timestamp_pb2.Timestamp
    def __init__(self, title_id: _Optional[str] = ..., position_seconds: _Optional[int] = ..., duration_seconds: _Optional[int] = ..., last_watch_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TrendingTitle(_message.Message):
    __slots__ = ("title_id", "view_count", "watch_seconds", "unique_viewers", "rank")
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_COUNT_FIELD_NUMBER: _ClassVar[int]
    WATCH_SECONDS_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_VIEWERS_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    view_count: int
    watch_seconds: int
    unique_viewers: int
    rank: int
    def __init__(self, title_id: _Optional[str] = ..., view_count: _Optional[int] = ..., watch_seconds: _Optional[int] = ..., unique_viewers: _Optional[int] = ..., rank: _Optional[int] = ...) -> None: ...

class RecordViewRequest(_message.Message):
    __slots__ = ("profile_id", "view")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    view: View
    def __init__(self, profile_id: _Optional[str] = ..., view: _Optional[_Union[View, _Mapping]] = ...) -> None: ...

class ListHistoryRequest(_message.Message):
    __slots__ = ("profile_id", "page_size", "page_token")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    page_size: int
    page_token: str
    def __init__(self, profile_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListHistoryResponse(_message.Message):
    __slots__ = ("views", "next_page_token")
    VIEWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    views: _containers.RepeatedCompositeFieldContainer[View]
    next_page_token: str
    def __init__(self, views: _Optional[_Iterable[_Union[View, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListContinueWatchingRequest(_message.Message):
    __slots__ = ("profile_id", "page_size", "page_token")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    page_size: int
    page_token: str
    def __init__(self, profile_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListContinueWatchingResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[ContinueWatchingItem]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[ContinueWatchingItem, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListTrendingRequest(_message.Message):
    __slots__ = ("country", "date", "page_size", "page_token", "window", "max_maturity")
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    MAX_MATURITY_FIELD_NUMBER: _ClassVar[int]
    country: str
    date: str
    page_size: int
    page_token: str
    window: TrendingWindow
    max_maturity: str
    def __init__(self, country: _Optional[str] = ..., date: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., window: _Optional[_Union[TrendingWindow, str]] = ..., max_maturity: _Optional[str] = ...) -> None: ...

class ListTrendingResponse(_message.Message):
    __slots__ = ("titles", "next_page_token")
    TITLES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    titles: _containers.RepeatedCompositeFieldContainer[TrendingTitle]
    next_page_token: str
    def __init__(self, titles: _Optional[_Iterable[_Union[TrendingTitle, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

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
