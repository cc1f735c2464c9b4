"""Who may call an RPC, as its contract declares it.

Every RPC declares ``option (streammesh.options.v1.visibility) = ...;``
(``protos/streammesh/options/v1/visibility.proto``): PUBLIC (anyone, no
token), OWNER (a valid access token; the service checks that the token's
account owns the resource) or INTERNAL (service to service; the edge never
routes it). This module reads that option at run time from the default
descriptor pool, where the generated ``*_pb2`` modules put the contracts; the
auth interceptor (``interceptors/auth.py``) asks it which methods are public.
The edge reads the same option from ``gen/streammesh.pb`` instead
(``services/edge/routes.py``), since it renders from the descriptor set file.

A service's generated ``*_pb2`` module must have been imported for its
methods to be found (every server imports its own); the option's module is
imported here, so the extension is always known when options are read.
"""

from __future__ import annotations

import functools
from typing import Any, Final

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from streammesh.options.v1 import visibility_pb2

# The option's values, under short names.
UNSPECIFIED: Final = visibility_pb2.VISIBILITY_UNSPECIFIED
PUBLIC: Final = visibility_pb2.VISIBILITY_PUBLIC
OWNER: Final = visibility_pb2.VISIBILITY_OWNER
INTERNAL: Final = visibility_pb2.VISIBILITY_INTERNAL
# The values an RPC may declare; UNSPECIFIED (or an unknown number) is a contract error.
DECLARED: Final = frozenset({PUBLIC, OWNER, INTERNAL})
OPTION: Final = "streammesh.options.v1.visibility"
# The extension's handle for ``options.Extensions[...]``. Any: protoc's stubs
# type an extension as a plain FieldDescriptor, which the protobuf stubs'
# extension dict does not accept as an index.
EXTENSION: Final[Any] = visibility_pb2.visibility


class VisibilityError(LookupError):
    """The visibility of a method cannot be told."""


class UnknownMethodError(VisibilityError):
    """The method is not in the default descriptor pool (not a contract method, or not imported)."""


class UndeclaredVisibilityError(VisibilityError):
    """The method's contract declares no visibility (or an unknown value)."""


def name(visibility: visibility_pb2.Visibility) -> str:
    """``VISIBILITY_PUBLIC`` for PUBLIC; the number itself for a value the enum lacks."""
    try:
        return str(visibility_pb2.Visibility.Name(visibility))
    except ValueError:
        return str(int(visibility))


def undeclared_message(rpc: str, value: int, file_name: str) -> str:
    """The error text for an RPC that declares no (known) visibility; the edge uses it too."""
    what = "declares no visibility" if value == UNSPECIFIED else f"declares visibility {value}"
    return (
        f"{rpc} {what}: add `option ({OPTION}) = VISIBILITY_PUBLIC | VISIBILITY_OWNER | "
        f"VISIBILITY_INTERNAL;` to it in {file_name}"
    )


def _service(service_full_name: str, full_method: str) -> ServiceDescriptor:
    try:
        return descriptor_pool.Default().FindServiceByName(service_full_name)
    except KeyError:
        raise UnknownMethodError(
            f"{full_method}: {service_full_name} is not in the default descriptor pool "
            "(not a contract service, or its generated *_pb2 module is not imported)"
        ) from None


def _method(full_method: str) -> MethodDescriptor:
    service_name, slash, method_name = full_method.removeprefix("/").partition("/")
    if not full_method.startswith("/") or not slash or not service_name or not method_name:
        raise UnknownMethodError(f"{full_method!r} is not a full method name (/pkg.Service/Method)")
    service = _service(service_name, full_method)
    method = service.methods_by_name.get(method_name)
    if method is None:
        raise UnknownMethodError(f"{full_method}: {service_name} has no method {method_name}")
    return method


@functools.cache
def visibility_of(full_method: str) -> visibility_pb2.Visibility:
    """The visibility ``/pkg.Service/Method`` declares in its contract.

    Raises :class:`UnknownMethodError` for a method the default pool does not
    know and :class:`UndeclaredVisibilityError` for one that declares none.
    Only answers are remembered (bounded by the contracts' methods).
    """
    method = _method(full_method)
    value = method.GetOptions().Extensions[EXTENSION]
    if value not in DECLARED:
        raise UndeclaredVisibilityError(
            undeclared_message(method.full_name, value, method.containing_service.file.name)
        )
    return value


@functools.cache
def shared_cacheable(full_method: str) -> bool:
    """Whether a shared cache (the edge's, a CDN) may keep the method's answers:
    it is PUBLIC, has no side effects, and devices reach it with a GET.

    The edge's Cache-Control rule (services/edge/caching.py) reads the same
    three facts from the descriptor set file. False for a method the default
    pool does not know.
    """
    try:
        method = _method(full_method)
        public = visibility_of(full_method) == PUBLIC
    except VisibilityError:
        return False
    options = method.GetOptions()
    return (
        public
        and options.idempotency_level == descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
        and options.Extensions[annotations_pb2.http].WhichOneof("pattern") == "get"
    )


def methods_with(service_full_name: str, visibility: visibility_pb2.Visibility) -> frozenset[str]:
    """The full names (``/pkg.Service/Method``) of the service's methods declaring ``visibility``.

    Raises like :func:`visibility_of` when any method of the service declares none.
    """
    service = _service(service_full_name, f"/{service_full_name}/")
    methods = (f"/{service_full_name}/{method.name}" for method in service.methods)
    return frozenset(m for m in methods if visibility_of(m) == visibility)
