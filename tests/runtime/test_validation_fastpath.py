"""The validation fast path and protovalidate agree on every request type in gen/.

For each request message of each service, a valid message is built from its
``buf.validate`` rules, then every field with rules (nested ones included) is
set, one at a time, to values at and across each rule's boundary: lengths
min_len-1 / max_len+1 (in code points, with multi-byte text), pattern misses
(a trailing newline, non-ASCII digits), bad UUIDs, e-mails and URIs, ints
one past each bound, too few / too many / duplicate items, unset required
messages. On each message the fast path must say exactly what protovalidate
says, except that it may send a URI outside its conservative subset to
protovalidate (it may be stricter, never looser). And validate() (the
interceptor's entry) must pass the valid messages and reject an invalid one
with protovalidate's violations.
"""

from __future__ import annotations

import importlib
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import protovalidate
import pytest
from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message_factory
from google.protobuf.message import Message

from buf.validate import validate_pb2
from interceptors import validation
from interceptors.validation_fastpath import FastValidator
from services.runtime.errors import InvalidArgument

GEN = pathlib.Path(__file__).resolve().parents[2] / "gen"
_FD = pb_descriptor.FieldDescriptor
# protobuf's stubs split the upb and pure-Python descriptor classes; either works here.
Field = Any
MessageType = Any
_FIELD_RULES: Any = validate_pb2.field

# A value matching each pattern of our contracts; a new pattern needs a sample here.
PATTERN_SAMPLES = {
    "^[0-9]{1,19}$": "42",
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}$": "2024-02-29",
    "^[A-Z]{2}$": "NL",
    "^[a-z]+(\\.[a-z_]+){2}$": "catalog.title.created",
    "^[a-z][a-z0-9_.-]{0,63}$": "playback.autoplay",
    "^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$": "en-GB",
    "^[a-z][a-z0-9-]{0,31}$": "standard",
    # saga ids and operation ids
    "^[A-Za-z0-9-]{1,64}$": "c8700431-c52d-4359-b366-db3c7d40b5b7",
    # saga steps (a compensation is "<step>:compensate")
    "^[a-z][a-z0-9_.:-]{0,63}$": "search.apply_settings:compensate",
}
# Valid URIs outside the fast path's subset: it may defer these to protovalidate.
# Fields that only a CEL rule constrains (the builder reads standard rules only).
CEL_ONLY_VALUES = {
    "streammesh.users.v1.UpdateProfileRequest": ("profile", "profile_id", "42"),
}
URIS_OUTSIDE_SUBSET = frozenset(
    {"mailto:someone@example.com", "https://example.com/a%20b", "urn:isbn:0451450523", "https://"}
)


def _request_types() -> list[MessageType]:
    found: dict[str, MessageType] = {}
    for path in sorted((GEN / "streammesh").rglob("*_pb2.py")):
        module = importlib.import_module(".".join(path.relative_to(GEN).with_suffix("").parts))
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                found.setdefault(method.input_type.full_name, method.input_type)
    return [found[name] for name in sorted(found)]


REQUEST_TYPES = _request_types()


def _rules(field: Field) -> validate_pb2.FieldRules | None:
    options: Any = field.GetOptions()
    if options.HasExtension(_FIELD_RULES):
        rules: validate_pb2.FieldRules = options.Extensions[_FIELD_RULES]
        return rules
    return None


def _valid_string(rules: validate_pb2.StringRules) -> str:
    if len(getattr(rules, "in")):
        return str(getattr(rules, "in")[0])
    if rules.uuid:
        return "0b3c9c8e-6f5a-4c1e-9d2b-7a1f2e3d4c5b"
    if rules.email:
        return "viewer@example.com"
    if rules.uri:
        return "https://cdn.example.com/avatars/7.png"
    if rules.pattern:
        assert rules.pattern in PATTERN_SAMPLES, f"add a sample for pattern {rules.pattern!r}"
        return PATTERN_SAMPLES[rules.pattern]
    return "v" * max(rules.min_len, 1)


def _valid_int(rules: Any) -> int:
    if rules.HasField("gt"):
        return int(rules.gt) + 1
    if rules.HasField("gte"):
        return int(rules.gte)
    if rules.HasField("lt"):
        return int(rules.lt) - 1
    if rules.HasField("lte"):
        return int(rules.lte)
    return 1


def _valid_scalar(field: Field, rules: validate_pb2.FieldRules) -> Any:
    kind = rules.WhichOneof("type")
    if kind == "repeated":
        return _valid_scalar(field, rules.repeated.items)
    if kind == "string":
        return _valid_string(rules.string)
    if kind == "enum":
        return field.enum_type.values[-1].number
    if kind is not None and kind != "repeated":
        return _valid_int(getattr(rules, kind))
    if field.type == _FD.TYPE_STRING:
        return "v"
    if field.type == _FD.TYPE_BOOL:
        return True
    if field.type == _FD.TYPE_ENUM:
        return field.enum_type.values[-1].number
    return 1


def fill_valid(message: Message, depth: int = 0) -> None:
    """Sets every field with rules (and every message field) to a valid value."""
    for field in message.DESCRIPTOR.fields:
        if field.containing_oneof is not None and message.WhichOneof(field.containing_oneof.name):
            continue  # one member per oneof
        rules = _rules(field)
        if field.message_type is not None:
            if field.message_type.GetOptions().map_entry or depth > 3:
                continue
            if field.is_repeated:
                fill_valid(getattr(message, field.name).add(), depth + 1)
            elif field.message_type.full_name.startswith("google.protobuf."):
                continue
            else:
                fill_valid(getattr(message, field.name), depth + 1)
                getattr(message, field.name).SetInParent()
            continue
        if rules is None:
            continue
        value = _valid_scalar(field, rules)
        if field.is_repeated:
            getattr(message, field.name).append(value)
        else:
            setattr(message, field.name, value)


def _string_candidates(rules: validate_pb2.StringRules) -> Iterator[str]:
    yield ""
    if rules.HasField("min_len"):
        yield "x" * max(rules.min_len - 1, 0)
        yield "é" * rules.min_len
    if rules.HasField("max_len"):
        yield "é" * rules.max_len  # max_len counts code points, not bytes
        yield "x" * (rules.max_len + 1)
    if rules.pattern:
        sample = PATTERN_SAMPLES[rules.pattern]
        yield sample
        yield sample + "\n"  # Python's $ would accept this, RE2's does not
        yield "\u0661\u0662"  # Arabic-Indic digits: \d-style classes differ
        yield " " + sample
        yield sample * 2
    if rules.uuid:
        yield "0B3C9C8E-6F5A-4C1E-9D2B-7A1F2E3D4C5B"
        yield "0b3c9c8e-6f5a-4c1e-9d2b-7a1f2e3d4c5"
        yield "0b3c9c8e6f5a4c1e9d2b7a1f2e3d4c5b"
        yield "zb3c9c8e-6f5a-4c1e-9d2b-7a1f2e3d4c5b"
    if rules.email:
        yield from ("a@b", "a@b.", "@example.com", "a b@example.com", "viewer@exa_mple.com")
    if rules.uri:
        yield from ("http://example.com", "https://example.com:8443/a/b?c=d#e")
        yield from ("example.com/a.png", "https://exa mple.com/", "ht tp://x", "https://a/%zz")
        yield from URIS_OUTSIDE_SUBSET
    for allowed in getattr(rules, "in"):
        yield allowed
        yield allowed.upper() + "x"


def _int_candidates(rules: Any) -> Iterator[int]:
    yield from (0, -1, 1)
    for bound in ("gt", "gte", "lt", "lte"):
        if rules.HasField(bound):
            value = int(getattr(rules, bound))
            yield from (value - 1, value, value + 1)


def _value_candidates(field: Field, rules: validate_pb2.FieldRules) -> list[Any]:
    kind = rules.WhichOneof("type")
    if kind == "repeated":
        return _value_candidates(field, rules.repeated.items)
    if kind == "string" or (kind is None and field.type == _FD.TYPE_STRING):
        return list(_string_candidates(rules.string))
    if kind == "enum":
        defined = [value.number for value in field.enum_type.values]
        return [*defined, max(defined) + 1, -1]
    if kind is not None:
        return list(_int_candidates(getattr(rules, kind)))
    return []


@dataclass
class Case:
    message: Message
    label: str
    may_defer: bool = False


def _mutations(message: Message, prefix: str, depth: int = 0) -> Iterator[Case]:
    """Copies of ``message`` with one field (here or nested) set across a boundary."""
    for field in message.DESCRIPTOR.fields:
        rules = _rules(field)
        path = f"{prefix}{field.name}"
        if field.message_type is not None and not field.message_type.GetOptions().map_entry:
            if field.is_repeated:
                if rules is not None and rules.repeated.HasField("max_items"):
                    too_many = _copy(message)
                    items = getattr(too_many, field.name)
                    while len(items) <= rules.repeated.max_items:
                        fill_valid(items.add(), depth + 1)
                    yield Case(too_many, f"{path}: max_items+1")
                items = getattr(message, field.name)
                for index in range(len(items)):
                    for nested in _mutations(items[index], f"{path}[{index}].", depth + 1):
                        mutated = _copy(message)
                        getattr(mutated, field.name)[index].CopyFrom(nested.message)
                        yield Case(mutated, nested.label, nested.may_defer)
            elif message.HasField(field.name):
                unset = _copy(message)
                unset.ClearField(field.name)
                yield Case(unset, f"{path}: unset")
                empty = _copy(message)
                getattr(empty, field.name).Clear()
                getattr(empty, field.name).SetInParent()
                yield Case(empty, f"{path}: empty message")
                if depth < 3:
                    for nested in _mutations(getattr(message, field.name), f"{path}.", depth + 1):
                        mutated = _copy(message)
                        getattr(mutated, field.name).CopyFrom(nested.message)
                        yield Case(mutated, nested.label, nested.may_defer)
            continue
        if rules is None:
            continue
        candidates = _value_candidates(field, rules)
        if field.is_repeated:
            valid_item = _valid_scalar(field, rules)
            repeated = rules.repeated
            lists: list[tuple[str, list[Any]]] = [("no items", [])]
            if repeated.HasField("min_items"):
                lists.append(("min_items-1", [valid_item] * max(repeated.min_items - 1, 0)))
            if repeated.HasField("max_items"):
                lists.append(("max_items+1", _distinct(valid_item, repeated.max_items + 1)))
                lists.append(("max_items", _distinct(valid_item, repeated.max_items)))
            lists.append(("duplicates", [valid_item, valid_item]))
            lists += [(f"item {c!r}", [valid_item, c]) for c in candidates]
            for label, values in lists:
                mutated = _copy(message)
                del getattr(mutated, field.name)[:]
                getattr(mutated, field.name).extend(values)
                yield Case(mutated, f"{path}: {label}", _defers(values))
            continue
        for candidate in candidates:
            mutated = _copy(message)
            setattr(mutated, field.name, candidate)
            yield Case(mutated, f"{path}: {candidate!r}", _defers([candidate]))
        if field.has_presence:
            unset = _copy(message)
            unset.ClearField(field.name)
            yield Case(unset, f"{path}: unset")


def _distinct(sample: Any, count: int) -> list[Any]:
    if isinstance(sample, str):
        return [f"{sample}{i}" if i else sample for i in range(count)]
    return [sample] * count


def _defers(values: list[Any]) -> bool:
    return any(value in URIS_OUTSIDE_SUBSET for value in values if isinstance(value, str))


def _distinct_cases(cases: list[Case]) -> list[Case]:
    """One case per distinct message: protovalidate is slow, so judge each once."""
    seen: dict[bytes, Case] = {}
    for case in cases:
        key = case.message.SerializeToString(deterministic=True)
        if key not in seen or (case.may_defer and not seen[key].may_defer):
            seen[key] = case
    return list(seen.values())


def _descriptor_of(message: Message) -> MessageType:
    return message.DESCRIPTOR


def _copy(message: Message) -> Message:
    copied = message_factory.GetMessageClass(_descriptor_of(message))()
    copied.CopyFrom(message)
    return copied


@pytest.fixture(scope="module")
def protovalidator() -> protovalidate.Validator:
    return protovalidate.Validator()


@pytest.mark.parametrize("descriptor", REQUEST_TYPES, ids=lambda d: d.full_name)
def test_fast_path_agrees_with_protovalidate(
    descriptor: MessageType, protovalidator: protovalidate.Validator
) -> None:
    fast = FastValidator()
    valid = message_factory.GetMessageClass(descriptor)()
    fill_valid(valid)
    if descriptor.full_name in CEL_ONLY_VALUES:
        holder, name, value = CEL_ONLY_VALUES[descriptor.full_name]
        setattr(getattr(valid, holder), name, value)
    assert protovalidator.collect_violations(valid) == [], "the builder must make a valid message"
    cases = _distinct_cases([Case(valid, "valid"), *_mutations(valid, "")])
    supported = fast.supports(descriptor)
    disagreements = []
    checked_an_invalid_one = False
    for case in cases:
        expected = not protovalidator.collect_violations(case.message)
        judged = fast.is_valid(case.message)
        if supported:
            stricter_ok = case.may_defer and judged is False and expected
            if judged is not expected and not stricter_ok:
                disagreements.append(f"{case.label}: fast {judged}, protovalidate {expected}")
        else:
            assert judged is None
        if expected or not checked_an_invalid_one:
            # The interceptor's entry point; once per invalid type is enough, as
            # it costs protovalidate a second time.
            checked_an_invalid_one = checked_an_invalid_one or not expected
            if expected:
                validation.validate(case.message)
            else:
                with pytest.raises(InvalidArgument) as rejected:
                    validation.validate(case.message)
                assert rejected.value.violations, case.label
    assert not disagreements, "\n".join(disagreements)


def test_most_request_types_take_the_fast_path() -> None:
    fast = FastValidator()
    deferred = sorted(d.full_name for d in REQUEST_TYPES if not fast.supports(d))
    # These two carry CEL expressions (profile rules); everything else is compiled.
    assert deferred == [
        "streammesh.users.v1.CreateProfileRequest",
        "streammesh.users.v1.UpdateProfileRequest",
    ]
