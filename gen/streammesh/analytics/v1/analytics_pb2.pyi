from buf.validate import validate_pb2 as _validate_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from streammesh.options.v1 import visibility_pb2 as _visibility_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TitleStats(_message.Message):
    __slots__ = ("title_id", "view_count", "watch_seconds", "unique_profiles", "completion_rate")
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_COUNT_FIELD_NUMBER: _ClassVar[int]
    WATCH_SECONDS_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_PROFILES_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_RATE_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    view_count: int
    watch_seconds: int
    unique_profiles: int
    completion_rate: float
    def __init__(self, title_id: _Optional[str] = ..., view_count: _Optional[int] = ..., watch_seconds: _Optional[int] = ..., unique_profiles: _Optional[int] = ..., completion_rate: _Optional[float] = ...) -> None: ...

class DailyEngagement(_message.Message):
    __slots__ = ("date", "view_count", "watch_seconds", "active_profiles", "devices")
    DATE_FIELD_NUMBER: _ClassVar[int]
    VIEW_COUNT_FIELD_NUMBER: _ClassVar[int]
    WATCH_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_PROFILES_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    date: str
    view_count: int
    watch_seconds: int
    active_profiles: int
    devices: _containers.RepeatedCompositeFieldContainer[DeviceEngagement]
    def __init__(self, date: _Optional[str] = ..., view_count: _Optional[int] = ..., watch_seconds: _Optional[int] = ..., active_profiles: _Optional[int] = ..., devices: _Optional[_Iterable[_Union[DeviceEngagement, _Mapping]]] = ...) -> None: ...

class DeviceEngagement(_message.Message):
    __slots__ = ("device_type", "view_count", "watch_seconds", "active_profiles")
    DEVICE_TYPE_FIELD_NUMBER: _ClassVar[int]
    VIEW_COUNT_FIELD_NUMBER: _ClassVar[int]
    WATCH_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_PROFILES_FIELD_NUMBER: _ClassVar[int]
    device_type: str
    view_count: int
    watch_seconds: int
    active_profiles: int
    def __init__(self, device_type: _Optional[str] = ..., view_count: _Optional[int] = ..., watch_seconds: _Optional[int] = ..., active_profiles: _Optional[int] = ...) -> None: ...

class GetTitleStatsRequest(_message.Message):
    __slots__ = ("title_id", "start_date", "end_date")
    TITLE_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    title_id: str
    start_date: str
    end_date: str
    def __init__(self, title_id: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ...) -> None: ...

class ListTopTitlesRequest(_message.Message):
    __slots__ = ("country", "start_date", "end_date", "page_size", "page_token", "genre")
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    GENRE_FIELD_NUMBER: _ClassVar[int]
    country: str
    start_date: str
    end_date: str
    page_size: int
    page_token: str
    genre: str
    def __init__(self, country: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., genre: _Optional[str] = ...) -> None: ...

class ListTopTitlesResponse(_message.Message):
    __slots__ = ("titles", "next_page_token")
    TITLES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    titles: _containers.RepeatedCompositeFieldContainer[TitleStats]
    next_page_token: str
    def __init__(self, titles: _Optional[_Iterable[_Union[TitleStats, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListDailyEngagementRequest(_message.Message):
    __slots__ = ("start_date", "end_date", "page_size", "page_token")
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    start_date: str
    end_date: str
    page_size: int
    page_token: str
    def __init__(self, start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDailyEngagementResponse(_message.Message):
    __slots__ = ("days", "next_page_token")
    DAYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedCompositeFieldContainer[DailyEngagement]
    next_page_token: str
    def __init__(self, days: _Optional[_Iterable[_Union[DailyEngagement, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AnonymiseAccountDataRequest(_message.Message):
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

class AnonymiseAccountDataResponse(_message.Message):
    __slots__ = ("anonymised_count", "replayed")
    ANONYMISED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    anonymised_count: int
    replayed: bool
    def __init__(self, anonymised_count: _Optional[int] = ..., replayed: _Optional[bool] = ...) -> None: ...
