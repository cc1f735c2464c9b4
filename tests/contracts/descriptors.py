"""Loads the generated descriptor set once for the contract tests."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

from google.protobuf import descriptor_pb2

DESCRIPTOR_SET = Path(__file__).resolve().parents[2] / "gen" / "streammesh.pb"


@functools.cache
def descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    files = descriptor_pb2.FileDescriptorSet()
    files.ParseFromString(DESCRIPTOR_SET.read_bytes())
    return files


def streammesh_files() -> Iterator[descriptor_pb2.FileDescriptorProto]:
    for file in descriptor_set().file:
        if file.package.startswith("streammesh."):
            yield file


def methods() -> Iterator[
    tuple[
        descriptor_pb2.FileDescriptorProto,
        descriptor_pb2.ServiceDescriptorProto,
        descriptor_pb2.MethodDescriptorProto,
        int,
        int,
    ]
]:
    """Every RPC with its file, service and source-info path indexes."""
    for file in streammesh_files():
        for service_index, service in enumerate(file.service):
            for method_index, method in enumerate(service.method):
                yield file, service, method, service_index, method_index


def leading_comment(file: descriptor_pb2.FileDescriptorProto, path: tuple[int, ...]) -> str:
    for location in file.source_code_info.location:
        if tuple(location.path) == path:
            return location.leading_comments
    return ""
