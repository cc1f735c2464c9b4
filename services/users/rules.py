"""The users domain's input rules: pure functions that normalise or reject.

Each check raises :class:`InvalidArgument` naming the request field (as a
path in the request message, e.g. ``profile.maturity_rating``), so a caller
learns exactly what to fix. The contract's protovalidate rules catch most of
this at the edge of the server already; these rules hold even without them
and add what a pattern cannot express (a real country, a registered
language subtag).

Sources: countries are ISO 3166-1 alpha-2 codes from ``pycountry`` (the
iso-codes database Debian ships), languages are validated against the IANA
language subtag registry by ``langcodes``.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from typing import Final, TypeVar
from urllib.parse import urlsplit

import langcodes
import pycountry

from services import ratings
from services.runtime.errors import FailedPrecondition, FieldViolation, InvalidArgument
from services.users.store import ProfileFields, ProfileRecord

T = TypeVar("T")

PASSWORD_MIN: Final = 10
PASSWORD_MAX: Final = 128
EMAIL_MAX: Final = 254
NAME_MAX: Final = 100
PROFILE_NAME_MAX: Final = 50
AVATAR_URL_MAX: Final = 2048
LANGUAGE_TAG_MAX: Final = 35
PREFERENCE_VALUE_MAX: Final = 1024
MAX_ID: Final = 2**63 - 1
DEFAULT_LANGUAGE: Final = "en"

# The HTML living standard's "valid e-mail address", which protovalidate's
# `string.email` rule also implements: what browsers accept, no quoted parts.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
_PREFERENCE_KEY = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_ID = re.compile(r"^[0-9]{1,19}$")
# BCP 47 syntax (subtags of 1-8 letters/digits joined by '-'); langcodes
# alone also accepts forms such as "en_US".
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")

MUTABLE_PROFILE_PATHS: Final = (
    "profile_name",
    "avatar_url",
    "maturity_rating",
    "kids_profile",
    "language_code",
)
# The paths whose change starts a profile-update saga (services/users/sagas).
SAGA_PROFILE_PATHS: Final = ("maturity_rating", "kids_profile", "language_code")


def _invalid(field: str, description: str, reason: str = "INVALID_FIELD") -> InvalidArgument:
    return InvalidArgument.for_field(field, description, reason)


def raise_all(violations: Iterable[InvalidArgument]) -> None:
    """One INVALID_ARGUMENT listing every bad field, when there is any."""
    found = [v for error in violations for v in error.violations]
    if not found:
        return
    if len(found) == 1:
        message = f"{found[0].field}: {found[0].description}"
    else:
        message = "invalid fields: " + ", ".join(v.field for v in found)
    raise InvalidArgument(message, reason="INVALID_FIELDS", violations=found)


class Collector:
    """Gathers every field error of one request before raising them together."""

    def __init__(self) -> None:
        self.errors: list[InvalidArgument] = []

    def check(self, rule: Callable[[], T]) -> T | None:
        try:
            return rule()
        except InvalidArgument as error:
            self.errors.append(error)
            return None

    def raise_if_any(self) -> None:
        raise_all(self.errors)


def parse_id(value: str, field: str) -> int:
    if not _ID.match(value) or int(value) > MAX_ID or int(value) == 0:
        raise _invalid(field, "must be a decimal id", "INVALID_ID")
    return int(value)


def normalise_email(value: str, field: str = "email") -> str:
    """Trimmed, lower-case and well-formed, or INVALID_ARGUMENT."""
    email = value.strip().lower()
    if not email:
        raise _invalid(field, "is required", "REQUIRED")
    if len(email) > EMAIL_MAX:
        raise _invalid(field, f"must be at most {EMAIL_MAX} characters", "TOO_LONG")
    if not _EMAIL.match(email):
        raise _invalid(field, "must be an e-mail address", "INVALID_EMAIL")
    return email


def check_password(value: str, field: str = "password") -> str:
    # The description never echoes the value.
    if len(value) < PASSWORD_MIN:
        raise _invalid(field, f"must be at least {PASSWORD_MIN} characters", "TOO_SHORT")
    if len(value) > PASSWORD_MAX:
        raise _invalid(field, f"must be at most {PASSWORD_MAX} characters", "TOO_LONG")
    return value


def clean_text(value: str, field: str, *, max_length: int, required: bool = True) -> str:
    """Trimmed text without control characters, within ``max_length``."""
    text = value.strip()
    if required and not text:
        raise _invalid(field, "is required", "REQUIRED")
    if len(text) > max_length:
        raise _invalid(field, f"must be at most {max_length} characters", "TOO_LONG")
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise _invalid(field, "must not contain control characters", "CONTROL_CHARACTERS")
    return text


def country_code(value: str, field: str = "country_code") -> str:
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise _invalid(field, "must be an ISO 3166-1 alpha-2 country code", "UNKNOWN_COUNTRY")
    return code


def language_tag(value: str, field: str = "language_code") -> str:
    """A valid BCP 47 tag in its standard form ("pt-br" -> "pt-BR"); "en" when empty."""
    tag = value.strip()
    if not tag:
        return DEFAULT_LANGUAGE
    if (
        len(tag) > LANGUAGE_TAG_MAX
        or not _LANGUAGE_TAG.match(tag)
        or not langcodes.tag_is_valid(tag)
    ):
        raise _invalid(field, "must be a BCP 47 language tag", "UNKNOWN_LANGUAGE")
    return str(langcodes.standardize_tag(tag))


def avatar_url(value: str, field: str) -> str:
    url = value.strip()
    if not url:
        return ""
    if len(url) > AVATAR_URL_MAX:
        raise _invalid(field, f"must be at most {AVATAR_URL_MAX} characters", "TOO_LONG")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        raise _invalid(field, "must be an absolute http(s) URL", "INVALID_URL")
    return url


def maturity_rating(value: str, field: str, *, kids_profile: bool) -> str:
    """A known rating; empty means the default for the kind of profile."""
    if not value:
        return ratings.KIDS_LIMIT if kids_profile else ratings.DEFAULT_LIMIT
    if not ratings.is_known(value):
        raise _invalid(
            field, f"must be one of {', '.join(ratings.RATINGS)}", "UNKNOWN_MATURITY_RATING"
        )
    return value


def check_kids_cap(fields: ProfileFields, field: str) -> None:
    """FAILED_PRECONDITION when a kids profile's limit exceeds the kids limit."""
    if fields.kids_profile and not ratings.kids_allowed(fields.maturity_rating):
        description = (
            f"a kids profile is capped at {ratings.KIDS_LIMIT} "
            f"(allowed: {', '.join(ratings.allowed_ratings(ratings.KIDS_LIMIT))})"
        )
        raise FailedPrecondition(
            f"{field}: {description}",
            reason="KIDS_RATING_LIMIT",
            violations=[FieldViolation(field, description, "KIDS_RATING_LIMIT")],
        )


def new_profile_fields(
    *,
    profile_name: str,
    avatar: str,
    rating: str,
    kids_profile: bool,
    prefix: str = "profile.",
) -> ProfileFields:
    errors = Collector()
    name = errors.check(
        lambda: clean_text(profile_name, f"{prefix}profile_name", max_length=PROFILE_NAME_MAX)
    )
    url = errors.check(lambda: avatar_url(avatar, f"{prefix}avatar_url"))
    limit = errors.check(
        lambda: maturity_rating(rating, f"{prefix}maturity_rating", kids_profile=kids_profile)
    )
    errors.raise_if_any()
    assert name is not None
    assert url is not None
    assert limit is not None
    fields = ProfileFields(
        profile_name=name, avatar_url=url, maturity_rating=limit, kids_profile=kids_profile
    )
    check_kids_cap(fields, f"{prefix}maturity_rating")
    return fields


def update_paths(paths: Iterable[str]) -> list[str]:
    """The mask's paths, checked; all mutable paths when the mask is empty."""
    requested = list(dict.fromkeys(paths))
    if not requested:
        return list(MUTABLE_PROFILE_PATHS)
    unknown = [path for path in requested if path not in MUTABLE_PROFILE_PATHS]
    if unknown:
        raise InvalidArgument(
            f"update_mask: cannot update {', '.join(unknown)}",
            reason="INVALID_UPDATE_MASK",
            violations=[
                FieldViolation(
                    "update_mask",
                    f"unknown or immutable path {path!r}; mutable: "
                    + ", ".join(MUTABLE_PROFILE_PATHS),
                    "INVALID_UPDATE_MASK",
                )
                for path in unknown
            ],
        )
    return requested


def updated_profile_fields(
    current: ProfileRecord,
    paths: list[str],
    *,
    profile_name: str,
    avatar: str,
    rating: str,
    kids_profile: bool,
    language: str = "",
) -> ProfileFields:
    """The profile's fields after applying the masked values of the request."""
    kids = kids_profile if "kids_profile" in paths else current.kids_profile
    errors = Collector()
    name = current.profile_name
    if "profile_name" in paths:
        name = (
            errors.check(
                lambda: clean_text(
                    profile_name, "profile.profile_name", max_length=PROFILE_NAME_MAX
                )
            )
            or ""
        )
    url = current.avatar_url
    if "avatar_url" in paths:
        url = errors.check(lambda: avatar_url(avatar, "profile.avatar_url")) or ""
    limit = current.maturity_rating
    if "maturity_rating" in paths:
        limit = (
            errors.check(
                lambda: maturity_rating(rating, "profile.maturity_rating", kids_profile=kids)
            )
            or ""
        )
    tag = current.language_code
    if "language_code" in paths:
        tag = (
            errors.check(lambda: language_tag(language, "profile.language_code"))
            if language
            else ""
        ) or ""
    errors.raise_if_any()
    fields = ProfileFields(
        profile_name=name,
        avatar_url=url,
        maturity_rating=limit,
        kids_profile=kids,
        language_code=tag,
    )
    check_kids_cap(fields, "profile.maturity_rating")
    return fields


def preference_key(value: str, field: str = "preference.key") -> str:
    if not _PREFERENCE_KEY.match(value):
        raise _invalid(
            field,
            "must be 1-64 characters of a-z, 0-9, '_', '.', '-', starting with a letter",
            "INVALID_KEY",
        )
    return value


def preference_value(value: str, field: str = "preference.value") -> str:
    if len(value) > PREFERENCE_VALUE_MAX:
        raise _invalid(field, f"must be at most {PREFERENCE_VALUE_MAX} characters", "TOO_LONG")
    return value


def page_size(value: int, *, default: int, maximum: int, field: str = "page_size") -> int:
    if value < 0:
        raise _invalid(field, "must not be negative", "NEGATIVE")
    return default if value == 0 else min(value, maximum)


def encode_page_token(position: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": position}).encode()).decode()


def decode_page_token(token: str, field: str = "page_token") -> str:
    """The position a page token continues after ("" for the first page)."""
    if not token:
        return ""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeError) as err:
        raise _invalid(field, "is not a token this service issued", "INVALID_PAGE_TOKEN") from err
    after = decoded.get("after") if isinstance(decoded, dict) else None
    if not isinstance(after, str):
        raise _invalid(field, "is not a token this service issued", "INVALID_PAGE_TOKEN")
    return after
