"""Settings of the saga orchestrator (``streammesh sagas orchestrate``).

It runs with the users service's environment (its database, Redis and keys,
services/users/config.py) plus these, read from ``STREAMMESH_SAGAS_<FIELD>``
(then ``STREAMMESH_<FIELD>``, then the default).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.runtime import backends, settings
from services.runtime.object_store import ObjectStoreSettings
from services.runtime.settings import nested, setting


@dataclass(frozen=True)
class SagaConfig:
    # Each participant command gets this long; a hanging participant is a
    # failed attempt after it.
    step_timeout_seconds: float = 5.0
    # Attempts of a compensatable step before the saga compensates (a
    # permanent refusal compensates at once). Retriable steps and
    # compensations have no limit: they are retried until they succeed.
    max_attempts: int = 5
    # Backoff between attempts: doubles from the first to the cap (with jitter).
    backoff_initial_seconds: float = 0.2
    backoff_max_seconds: float = 10.0
    # An orchestrator holds a saga this long per claim and renews it while it
    # works; a crashed one's sagas are taken over after it.
    lease_seconds: float = 10.0
    # How often an idle orchestrator looks for due sagas.
    poll_interval_seconds: float = 0.1
    # Sagas driven at once per orchestrator.
    concurrency: int = 32
    # A saga whose current step has been failing this long counts as stuck
    # (gauge streammesh_sagas_stuck).
    stuck_after_seconds: float = 60.0
    # How long the device that asked for an account deletion may still poll
    # its operation after the account is gone.
    deletion_poll_window_seconds: int = 600
    # Bucket of the accounts' uploads (objects under uploads/<account_id>/),
    # in the object store of the mesh (OBJECTS_*: the catalog's settings).
    uploads_bucket: str = "streammesh-uploads"
    # "embedded" (files under OBJECTS_ROOT) or "real" (s3proxy); STREAMMESH_BACKENDS by default.
    object_store: str = field(
        default="embedded",
        metadata=setting(default_from=lambda context: backends.chosen(context).value),
    )
    objects: ObjectStoreSettings = field(
        default_factory=ObjectStoreSettings, metadata=nested("OBJECTS_")
    )
    # Port of /metrics (0: none).
    orchestrator_metrics_port: int = 9109
    # Fault injection for the crash tests: "<saga>:<step>:<before|after>"
    # makes the process SIGKILL itself there (empty: never).
    crash_at: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SagaConfig:
        return settings.from_env(cls, "sagas", environ)
