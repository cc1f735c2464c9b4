from google.protobuf import field_mask_pb2 as _field_mask_pb2
from streammesh.catalog.v1 import catalog_pb2 as _catalog_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TitleCreatedEvent(_message.Message):
    __slots__ = ("title", "availability")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_FIELD_NUMBER: _ClassVar[int]
    title: _catalog_pb2.Title
    availability: _containers.RepeatedCompositeFieldContainer[_catalog_pb2.Availability]
    def __init__(self, title: _Optional[_Union[_catalog_pb2.Title, _Mapping]] = ..., availability: _Optional[_Iterable[_Union[_catalog_pb2.Availability, _Mapping]]] = ...) -> None: ...

class TitleUpdatedEvent(_message.Message):
    __slots__ = ("title", "update_mask")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    title: _catalog_pb2.Title
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, title: _Optional[_Union[_catalog_pb2.Title, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...
