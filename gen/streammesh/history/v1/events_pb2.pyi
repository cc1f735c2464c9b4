from streammesh.history.v1 import history_pb2 as _history_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ViewRecordedEvent(_message.Message):
    __slots__ = ("view", "account_id", "maturity_rating")
    VIEW_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    MATURITY_RATING_FIELD_NUMBER: _ClassVar[int]
    view: _history_pb2.View
    account_id: str
    maturity_rating: str
    def __init__(self, view: _Optional[_Union[_history_pb2.View, _Mapping]] = ..., account_id: _Optional[str] = ..., maturity_rating: _Optional[str] = ...) -> None: ...
