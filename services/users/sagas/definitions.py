"""The two sagas, step by step, with each step's kind (Garcia-Molina's sagas as
refined by Richardson: compensatable steps, one pivot, retriable steps).

* COMPENSATABLE: may be undone by its compensation; a permanent failure (or
  running out of attempts, or the step timeout every time) of such a step
  turns the saga round: the steps done are undone in reverse order.
* PIVOT: the point of no return. Once it has succeeded the saga only goes
  forwards.
* RETRIABLE: after the pivot; retried with backoff until it succeeds.

Every compensation is retried until it succeeds too. Steps whose effect is
made in the transaction that starts the saga (the users row) are recorded as
already done when the saga is created.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Final


class StepKind(enum.Enum):
    COMPENSATABLE = "compensatable"
    PIVOT = "pivot"
    RETRIABLE = "retriable"


class SagaState(enum.Enum):
    RUNNING = "RUNNING"
    COMPENSATING = "COMPENSATING"
    COMPLETED = "COMPLETED"
    COMPENSATED = "COMPENSATED"


LIVE_STATES: Final = (SagaState.RUNNING.value, SagaState.COMPENSATING.value)


@dataclass(frozen=True)
class Step:
    name: str
    kind: StepKind
    # What it does, for `streammesh sagas show` and the README's table.
    does: str
    undoes: str = ""


@dataclass(frozen=True)
class SagaType:
    name: str
    steps: tuple[Step, ...]
    # Steps already done when the saga is created (made in the starting transaction).
    done_at_start: int

    def step(self, index: int) -> Step:
        return self.steps[index]

    def compensation_name(self, index: int) -> str:
        return f"{self.steps[index].name}:compensate"


PROFILE_UPDATE: Final = SagaType(
    "profile_update",
    (
        Step(
            "users.update_profile",
            StepKind.COMPENSATABLE,
            "the profile row takes the new settings (in UpdateProfile's transaction); every "
            "service reads the limit from it, so a lowered limit holds everywhere from here",
            "the profile gets its previous settings back",
        ),
        Step(
            "recommendations.apply_settings",
            StepKind.COMPENSATABLE,
            "recommendations keeps the settings and drops titles above the new limit",
            "recommendations applies the previous settings (and recomputes a raised limit)",
        ),
        Step(
            "search.apply_settings",
            StepKind.COMPENSATABLE,
            "search keeps the settings; searching as the profile honours the stricter of "
            "its copy and the profile",
            "search keeps the previous settings again",
        ),
        Step(
            "users.confirm",
            StepKind.PIVOT,
            "the saga is marked COMPLETED: the change holds everywhere",
        ),
    ),
    done_at_start=1,
)

ACCOUNT_DELETION: Final = SagaType(
    "account_deletion",
    (
        Step(
            "users.block_sign_in",
            StepKind.PIVOT,
            "the account is marked as being deleted (in DeleteAccount's transaction): "
            "Login and RefreshSession refuse it from here",
        ),
        Step(
            "users.revoke_sessions",
            StepKind.RETRIABLE,
            "every device session but the requesting one is revoked; that one may poll "
            "the operation for the poll window, without refresh",
        ),
        Step("history.purge", StepKind.RETRIABLE, "history deletes every view of the profiles"),
        Step(
            "recommendations.purge",
            StepKind.RETRIABLE,
            "recommendations deletes the lists, interactions and settings of the profiles",
        ),
        Step("search.purge", StepKind.RETRIABLE, "search deletes the profiles' settings"),
        Step(
            "analytics.anonymise",
            StepKind.RETRIABLE,
            "analytics keeps the counts and drops the account and profile ids",
        ),
        Step(
            "objects.delete_uploads",
            StepKind.RETRIABLE,
            "the object store deletes every object under uploads/<account_id>/",
        ),
        Step(
            "users.delete_account",
            StepKind.RETRIABLE,
            "users deletes the account, its profiles, preferences and billing (last)",
        ),
    ),
    done_at_start=1,
)

SAGA_TYPES: Final = {saga.name: saga for saga in (PROFILE_UPDATE, ACCOUNT_DELETION)}


@dataclass(frozen=True)
class Settings:
    maturity_rating: str
    kids_profile: bool
    language_code: str

    def as_json(self) -> dict[str, Any]:
        return {
            "maturity_rating": self.maturity_rating,
            "kids_profile": self.kids_profile,
            "language_code": self.language_code,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Settings:
        return cls(
            str(value["maturity_rating"]), bool(value["kids_profile"]), str(value["language_code"])
        )


def profile_update_payload(
    profile_id: int, account_id: int, new: Settings, previous: Settings
) -> str:
    return json.dumps(
        {
            "profile_id": str(profile_id),
            "account_id": str(account_id),
            "new": new.as_json(),
            "previous": previous.as_json(),
        },
        sort_keys=True,
    )


def account_deletion_payload(
    account_id: int, profile_ids: list[int], requesting_session_id: str
) -> str:
    return json.dumps(
        {
            "account_id": str(account_id),
            "profile_ids": [str(p) for p in profile_ids],
            "requesting_session_id": requesting_session_id,
        },
        sort_keys=True,
    )
