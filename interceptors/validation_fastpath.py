"""A fast "is this request valid?" for the protovalidate rules our contracts use.

Why we wrote our own: protovalidate-python 1.x evaluates every standard rule
(``min_len``, ``pattern``, ``gte``...) as the CEL expression that
buf/validate/validate.proto attaches to it, interpreted by cel-python, a
tree-walking interpreter in pure Python: about 170 us per rule on our
machine, more than a whole bare RPC (about 165 us). protovalidate-python 2.x
compiles rules ahead instead, but it needs the protobuf-py runtime, not the
``protobuf`` package our generated stubs are built on. The rules stay in the
contracts and protovalidate stays the source of truth; this module only
answers, for the common case, "valid" without running CEL.

How: once per message type, the ``buf.validate`` options on its fields are
compiled into plain Python checks (a tuple of closures). Supported: string
``min_len``/``max_len``/``len``/``pattern``/``uuid``/``email``/``uri``/``in``/
``not_in``/``prefix``; int32/int64/uint32/uint64 ``gt``/``gte``/``lt``/``lte``
(with protovalidate's exclusive ranges when the upper bound is below the
lower)/``in``/``not_in``; repeated ``min_items``/``max_items``/``unique``/
``items``; enum ``defined_only``/``in``/``not_in``; ``required``; ``ignore``;
oneof ``required``; nested, repeated and map-valued messages. Anything else
(CEL expressions, message-level rules, map key/value rules, wrapper types,
unknown rule fields) makes the whole type *unsupported*:
:meth:`FastValidator.is_valid` returns None and the caller asks protovalidate.

The checks may be stricter than protovalidate, never looser: the caller
treats "not valid" as "ask protovalidate", which decides and names the
violations. ``uri`` uses that freedom: it accepts a conservative subset of
RFC 3986 (``scheme://host[:port][/path][?query][#fragment]`` with
unreserved and sub-delim characters, no percent escapes); any other URI goes
to protovalidate's full parser. tests/runtime/test_validation_fastpath.py
holds the two to the same answers for every request type in gen/.

Regex semantics: ``pattern`` is matched with google-re2 (the engine
protovalidate's ``matches()`` uses, and a dependency of it) with
``search``, exactly as CEL's ``matches`` does. Python's ``re`` would differ on
our patterns: ``$`` also matches before a trailing newline
(``"123\\n"`` passes ``^[0-9]{1,19}$``), and ``\\d``/``\\w`` match non-ASCII
digits and letters; RE2 does neither.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import re2  # type: ignore[import-untyped]
from google.protobuf import descriptor as pb_descriptor
from google.protobuf import unknown_fields
from google.protobuf.message import Message

from buf.validate import validate_pb2

Check = Callable[[Any], bool]

# The buf.validate option extensions, typed loosely: protobuf's stubs expect
# typed extension handles that the generated validate_pb2 does not declare.
_FIELD_RULES: Any = validate_pb2.field
_ONEOF_RULES: Any = validate_pb2.oneof
_MESSAGE_RULES: Any = validate_pb2.message

_FD = pb_descriptor.FieldDescriptor
_UUID = re2.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
# The HTML standard's "valid e-mail address", which protovalidate's isEmail implements.
_EMAIL = re2.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
# A strict subset of RFC 3986 URIs (see the module docstring): anything outside
# it is decided by protovalidate.
_PCHARS = r"A-Za-z0-9._~!$&'()*+,;=:@\-"
_URI_SUBSET = re2.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*://[A-Za-z0-9._~-]+(?::[0-9]{1,5})?"
    rf"(?:/[{_PCHARS}/]*)?(?:\?[{_PCHARS}/?]*)?(?:#[{_PCHARS}/?]*)?$"
)

_INT_RULES = {
    "int32": (_FD.TYPE_INT32, _FD.TYPE_SINT32, _FD.TYPE_SFIXED32),
    "int64": (_FD.TYPE_INT64, _FD.TYPE_SINT64, _FD.TYPE_SFIXED64),
    "uint32": (_FD.TYPE_UINT32, _FD.TYPE_FIXED32),
    "uint64": (_FD.TYPE_UINT64, _FD.TYPE_FIXED64),
}
# protovalidate names the rule after the wire type: sint32 rules for sint32 fields.
_INT_RULE_FOR_TYPE = {
    _FD.TYPE_INT32: "int32",
    _FD.TYPE_SINT32: "sint32",
    _FD.TYPE_SFIXED32: "sfixed32",
    _FD.TYPE_INT64: "int64",
    _FD.TYPE_SINT64: "sint64",
    _FD.TYPE_SFIXED64: "sfixed64",
    _FD.TYPE_UINT32: "uint32",
    _FD.TYPE_FIXED32: "fixed32",
    _FD.TYPE_UINT64: "uint64",
    _FD.TYPE_FIXED64: "fixed64",
}
_STRING_KEYS = frozenset(
    {"min_len", "max_len", "len", "pattern", "uuid", "email", "uri", "in", "not_in", "prefix"}
)
_INT_KEYS = frozenset({"gt", "gte", "lt", "lte", "in", "not_in"})
_REPEATED_KEYS = frozenset({"min_items", "max_items", "unique", "items"})
_FIELD_KEYS = frozenset(
    {"required", "ignore", "string", "enum", "repeated", *_INT_RULE_FOR_TYPE.values()}
)


class Unsupported(Exception):
    """A rule this compiler does not implement; protovalidate decides for the type."""


def _set_keys(rules: Message) -> set[str]:
    if len(unknown_fields.UnknownFieldSet(rules)):
        raise Unsupported(f"unknown fields in {rules.DESCRIPTOR.full_name}")
    return {field.name for field, _ in rules.ListFields()}


def _all(checks: Sequence[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    frozen = tuple(checks)

    def every(value: Any) -> bool:
        for check in frozen:  # noqa: SIM110 - a loop: no generator object per call
            if not check(value):
                return False
        return True

    return every


def _matches(regex: Any) -> Check:
    search = regex.search
    return lambda text: search(text) is not None


def _string_checks(rules: validate_pb2.StringRules) -> list[Check]:
    keys = _set_keys(rules)
    if not keys <= _STRING_KEYS:
        raise Unsupported(f"string rules {sorted(keys - _STRING_KEYS)}")
    checks: list[Check] = []
    if "len" in keys:
        exact = rules.len
        checks.append(lambda s: len(s) == exact)
    if "min_len" in keys:
        low = rules.min_len
        checks.append(lambda s: len(s) >= low)
    if "max_len" in keys:
        high = rules.max_len
        checks.append(lambda s: len(s) <= high)
    if "prefix" in keys:
        prefix = rules.prefix
        checks.append(lambda s: s.startswith(prefix))
    if "in" in keys:
        allowed = frozenset(getattr(rules, "in"))
        checks.append(lambda s: s in allowed)
    if "not_in" in keys:
        banned = frozenset(rules.not_in)
        checks.append(lambda s: s not in banned)
    if "pattern" in keys:
        checks.append(_matches(re2.compile(rules.pattern)))
    # ``uuid: false`` and friends are rules that always pass.
    for key, regex in (("uuid", _UUID), ("email", _EMAIL), ("uri", _URI_SUBSET)):
        if key in keys and getattr(rules, key):
            checks.append(_matches(regex))
    return checks


def _int_checks(rules: Any) -> list[Check]:
    keys = _set_keys(rules)
    if not keys <= _INT_KEYS:
        raise Unsupported(f"integer rules {sorted(keys - _INT_KEYS)}")
    checks: list[Check] = []
    low: Check | None = None
    high: Check | None = None
    if "gt" in keys:
        gt = rules.gt
        low = lambda n: n > gt  # noqa: E731
    elif "gte" in keys:
        gte = rules.gte
        low = lambda n: n >= gte  # noqa: E731
    if "lt" in keys:
        lt = rules.lt
        high = lambda n: n < lt  # noqa: E731
    elif "lte" in keys:
        lte = rules.lte
        high = lambda n: n <= lte  # noqa: E731
    if low is not None and high is not None:
        lower_bound = getattr(rules, "gt" if "gt" in keys else "gte")
        upper_bound = getattr(rules, "lt" if "lt" in keys else "lte")
        above, below = low, high
        if upper_bound >= lower_bound:
            checks.append(lambda n: above(n) and below(n))
        else:
            # protovalidate's exclusive range: valid outside (upper, lower).
            checks.append(lambda n: above(n) or below(n))
    elif low is not None:
        checks.append(low)
    elif high is not None:
        checks.append(high)
    if "in" in keys:
        allowed = frozenset(getattr(rules, "in"))
        checks.append(lambda n: n in allowed)
    if "not_in" in keys:
        banned = frozenset(rules.not_in)
        checks.append(lambda n: n not in banned)
    return checks


def _value_checks(
    field: pb_descriptor.FieldDescriptor, rules: validate_pb2.FieldRules
) -> list[Check]:
    """Checks of one value of ``field`` (the field itself, or one item of a repeated field)."""
    kind = rules.WhichOneof("type")
    if kind is None:
        return []
    if kind == "string":
        if field.type != _FD.TYPE_STRING:
            raise Unsupported("string rules on a non-string field")
        return _string_checks(rules.string)
    if kind == _INT_RULE_FOR_TYPE.get(field.type):
        return _int_checks(getattr(rules, kind))
    if kind == "enum" and field.enum_type is not None:
        return _enum_checks(rules.enum, field.enum_type)
    raise Unsupported(f"{kind} rules on {field.full_name}")


def _enum_checks(rules: validate_pb2.EnumRules, enum: pb_descriptor.EnumDescriptor) -> list[Check]:
    keys = _set_keys(rules)
    if not keys <= {"defined_only", "in", "not_in"}:
        raise Unsupported(f"enum rules {sorted(keys - {'defined_only', 'in', 'not_in'})}")
    checks: list[Check] = []
    if rules.defined_only:
        defined = frozenset(value.number for value in enum.values)
        checks.append(lambda n: n in defined)
    if "in" in keys:
        allowed = frozenset(getattr(rules, "in"))
        checks.append(lambda n: n in allowed)
    if "not_in" in keys:
        banned = frozenset(rules.not_in)
        checks.append(lambda n: n not in banned)
    return checks


def _is_empty(field: pb_descriptor.FieldDescriptor) -> Check:
    name = field.name
    if field.has_presence:
        return lambda message: not message.HasField(name)
    if field.is_repeated:
        return lambda message: len(getattr(message, name)) == 0
    default = field.default_value
    return lambda message: getattr(message, name) == default


def _field_check(
    field: pb_descriptor.FieldDescriptor, rules: validate_pb2.FieldRules
) -> Check | None:
    """The check of one field's own rules (not its message's), or None when it has none."""
    keys = _set_keys(rules)
    if not keys <= _FIELD_KEYS:
        raise Unsupported(f"field rules {sorted(keys - _FIELD_KEYS)} on {field.full_name}")
    ignore = rules.ignore
    if ignore not in (validate_pb2.IGNORE_UNSPECIFIED, validate_pb2.IGNORE_IF_ZERO_VALUE):
        raise Unsupported(f"ignore={ignore} on {field.full_name}")
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        raise Unsupported(f"rules on map field {field.full_name}")
    name = field.name
    required = rules.required
    ignore_empty = ignore == validate_pb2.IGNORE_IF_ZERO_VALUE or field.has_presence
    is_empty = _is_empty(field)

    if field.is_repeated:
        value_check = _repeated_check(field, rules)
    else:
        if rules.WhichOneof("type") == "repeated":
            raise Unsupported(f"repeated rules on singular {field.full_name}")
        value_check = _all(_value_checks(field, rules)) if rules.WhichOneof("type") else None

    if value_check is None and not required:
        return None

    def check(message: Any) -> bool:
        if is_empty(message):
            if required:
                return False
            if ignore_empty:
                return True
        if value_check is None:
            return True
        return value_check(getattr(message, name))

    return check


def _repeated_check(
    field: pb_descriptor.FieldDescriptor, rules: validate_pb2.FieldRules
) -> Check | None:
    kind = rules.WhichOneof("type")
    if kind is None:
        return None
    if kind != "repeated":
        raise Unsupported(f"{kind} rules on repeated {field.full_name}")
    repeated = rules.repeated
    keys = _set_keys(repeated)
    if not keys <= _REPEATED_KEYS:
        raise Unsupported(f"repeated rules {sorted(keys - _REPEATED_KEYS)}")
    checks: list[Check] = []
    if "min_items" in keys:
        low = repeated.min_items
        checks.append(lambda items: len(items) >= low)
    if "max_items" in keys:
        high = repeated.max_items
        checks.append(lambda items: len(items) <= high)
    if "unique" in keys and repeated.unique:
        if field.message_type is not None:
            raise Unsupported("unique on repeated messages")
        checks.append(lambda items: len(items) == len(set(items)))
    if "items" in keys:
        item_rules = repeated.items
        item_keys = _set_keys(item_rules)
        if item_keys - {"ignore", "string", *_INT_RULE_FOR_TYPE.values()}:
            raise Unsupported(f"item rules {sorted(item_keys)} on {field.full_name}")
        if item_rules.ignore not in (
            validate_pb2.IGNORE_UNSPECIFIED,
            validate_pb2.IGNORE_IF_ZERO_VALUE,
        ):
            raise Unsupported(f"items ignore={item_rules.ignore} on {field.full_name}")
        item_check = _all(_value_checks(field, item_rules) or [lambda _: True])
        skip_zero = item_rules.ignore == validate_pb2.IGNORE_IF_ZERO_VALUE

        def items_valid(items: Any) -> bool:
            for item in items:
                if skip_zero and not item:
                    continue
                if not item_check(item):
                    return False
            return True

        checks.append(items_valid)
    return _all(checks) if checks else None


def _oneof_set(oneof_name: str) -> Check:
    return lambda message: message.WhichOneof(oneof_name) is not None


class _Cell:
    """A message type's checks; filled in after its fields, so recursive types can point to it."""

    __slots__ = ("checks", "done")

    def __init__(self) -> None:
        self.checks: tuple[Check, ...] = ()
        self.done = False


def _run_all(cell: _Cell, value: Any) -> bool:
    for check in cell.checks:  # noqa: SIM110 - a loop: no generator object per call
        if not check(value):
            return False
    return True


class FastValidator:
    """Compiled checks per message type; see the module docstring."""

    def __init__(self) -> None:
        # Descriptor -> its checks (empty: no rules), or None: unsupported.
        # Bounded by the message types of the loaded contracts.
        self._compiled: dict[pb_descriptor.Descriptor, _Cell | None] = {}

    def is_valid(self, message: Message) -> bool | None:
        """True: valid. False: probably not, ask protovalidate. None: not supported here."""
        descriptor: Any = message.DESCRIPTOR
        try:
            cell = self._compiled[descriptor]
        except KeyError:
            cell = self._compile_top(descriptor)
        if cell is None:
            return None
        for check in cell.checks:  # noqa: SIM110 - a loop: no generator object per call
            if not check(message):
                return False
        return True

    def supports(self, descriptor: pb_descriptor.Descriptor) -> bool:
        """Whether messages of this type are decided here (compiling it if needed)."""
        if descriptor not in self._compiled:
            self._compile_top(descriptor)
        return self._compiled[descriptor] is not None

    def _compile_top(self, descriptor: pb_descriptor.Descriptor) -> _Cell | None:
        cells: dict[pb_descriptor.Descriptor, _Cell] = {}
        try:
            cell = self._compile(descriptor, cells)
        except Unsupported:
            # Only the requested type is marked: the others compiled on the way
            # may be fine on their own and are compiled again when asked for.
            self._compiled[descriptor] = None
            return None
        for compiled, done in cells.items():
            self._compiled.setdefault(compiled, done)
        return cell

    def _compile(
        self, descriptor: pb_descriptor.Descriptor, cells: dict[pb_descriptor.Descriptor, _Cell]
    ) -> _Cell:
        if descriptor in self._compiled:
            known = self._compiled[descriptor]
            if known is None:
                raise Unsupported(descriptor.full_name)
            return known
        if descriptor in cells:
            # A recursive type: its checks are filled in once compiled below.
            return cells[descriptor]
        cell = _Cell()
        cells[descriptor] = cell
        options = descriptor.GetOptions()
        if options.HasExtension(_MESSAGE_RULES):
            message_rules = options.Extensions[_MESSAGE_RULES]
            if _set_keys(message_rules):
                raise Unsupported(f"message rules on {descriptor.full_name}")
        checks: list[Check] = []
        for oneof in descriptor.oneofs:
            if oneof.GetOptions().HasExtension(_ONEOF_RULES):
                oneof_rules = oneof.GetOptions().Extensions[_ONEOF_RULES]
                if _set_keys(oneof_rules) - {"required"}:
                    raise Unsupported(f"oneof rules on {oneof.full_name}")
                if oneof_rules.required:
                    oneof_name = oneof.name
                    checks.append(_oneof_set(oneof_name))
        for field in descriptor.fields:
            field_options = field.GetOptions()
            if field_options.HasExtension(_FIELD_RULES):
                rules = field_options.Extensions[_FIELD_RULES]
                if rules.ignore == validate_pb2.IGNORE_ALWAYS:
                    # protovalidate skips the field's message too.
                    continue
                own = _field_check(field, rules)
                if own is not None:
                    checks.append(own)
            if field.message_type is not None:
                nested = self._nested_check(field, cells)
                if nested is not None:
                    checks.append(nested)
        cell.checks = tuple(checks)
        cell.done = True
        return cell

    def _nested_check(
        self, field: pb_descriptor.FieldDescriptor, cells: dict[pb_descriptor.Descriptor, _Cell]
    ) -> Check | None:
        """The checks of the messages a field holds, or None when they have no rules."""
        message_type: Any = field.message_type
        name = field.name
        if message_type.GetOptions().map_entry:
            value_type = message_type.fields_by_name["value"].message_type
            if value_type is None:
                return None
            values_cell = self._compile(value_type, cells)
            if values_cell.done and not values_cell.checks:
                return None
            return lambda message: all(
                _run_all(values_cell, value) for value in getattr(message, name).values()
            )
        cell = self._compile(message_type, cells)
        if cell.done and not cell.checks:
            return None
        if field.is_repeated:
            return lambda message: all(_run_all(cell, item) for item in getattr(message, name))

        def nested_valid(message: Any) -> bool:
            if not message.HasField(name):
                return True
            return _run_all(cell, getattr(message, name))

        return nested_valid
