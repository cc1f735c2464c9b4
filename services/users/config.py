"""Settings of the users service, read from the environment.

Each field ``x`` is read from ``STREAMMESH_USERS_X`` first, then
``STREAMMESH_X`` (the runtime's convention, see services/runtime/settings.py),
then the default below. ``STREAMMESH_BACKENDS`` (``embedded`` or ``real``,
set by ``streammesh up``; services/runtime/backends.py) picks the defaults of
the two stores. ``streammesh config users`` shows what is in effect.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.runtime import backends, settings
from services.runtime.config import ServerConfig
from services.runtime.settings import Context, nested, setting

SERVICE = "users"
DEFAULT_DATA_DIR = Path(".streammesh") / "users"


def _default_database_url(context: Context) -> str:
    """MariaDB under real backends; else the SQLite file in the data folder."""
    if backends.chosen(context) is backends.Backends.REAL:
        return backends.REAL_USERS_DATABASE_URL
    return f"sqlite+aiosqlite:///{context['data_dir'] / 'users.db'}"


@dataclass(frozen=True)
class PasswordHashing:
    """Argon2id cost: OWASP's password storage recommendation (19 MiB, 2 passes, 1 lane).

    Measured on this project's 2-core machine (bench/users_bench.py): about
    70 ms of one core per hash, so a node signs in some 25 people per second
    on two cores, while an offline guesser pays 19 MiB and 70 ms per guess.
    RFC 9106's 64 MiB / 3 passes / 4 lanes costs 250-500 ms here: the sign-in
    rate would fall to a handful per second for a small gain. One lane
    because the pool below already hashes two passwords in parallel. Raising
    the cost later is safe: each hash records its own parameters and old
    hashes still verify.

    Environment: ``STREAMMESH_[USERS_]ARGON2_<FIELD>`` and ``..._KDF_<FIELD>``.
    """

    # Argon2id passes, memory per hash and lanes (see above).
    time_cost: int = field(default=2, metadata=setting("ARGON2_TIME_COST"))
    memory_kib: int = field(default=19 * 1024, metadata=setting("ARGON2_MEMORY_KIB"))
    parallelism: int = field(default=1, metadata=setting("ARGON2_PARALLELISM"))
    # KDF runs in a thread pool of this size (argon2-cffi releases the GIL),
    # never on the event loop ...
    workers: int = field(default=2, metadata=setting("KDF_WORKERS"))
    # ... and at most this many hashes wait for it; more sign-ins than that
    # get RESOURCE_EXHAUSTED rather than an unbounded queue.
    max_pending: int = field(default=64, metadata=setting("KDF_MAX_PENDING"))


@dataclass(frozen=True)
class LoginLimits:
    """Failed sign-ins tolerated before RESOURCE_EXHAUSTED, in fixed windows.

    Per account (keyed by the normalised e-mail, so unknown addresses are
    limited alike): 5 failures per 15 minutes, the usual guidance for online
    guessing. Per client address: 50, so one host cannot spray many accounts.
    A successful sign-in clears the account's counter.

    Environment: ``STREAMMESH_[USERS_]LOGIN_<FIELD>``.
    """

    # Failures per account, then per client address, within one window.
    account_failures: int = 5
    address_failures: int = 50
    # Length of the fixed window the failures are counted in.
    window_seconds: int = 900


@dataclass(frozen=True)
class Config:
    # gRPC server and client settings (services/runtime/config.py).
    server: ServerConfig = field(metadata=nested())
    # SQLAlchemy async URL: sqlite+aiosqlite:///<file> (embedded) or
    # mysql+aiomysql://user:password@host:port/db (MariaDB/MySQL). Holds the
    # password: secret. Defaults to the backends' (users.db in data_dir).
    database_url: str = field(metadata=setting(secret=True, default_from=_default_database_url))
    # Cache and login limits; may hold a password: secret. Defaults to the backends' Redis.
    redis_url: str = field(metadata=setting(secret=True, default_from=backends.redis_url))
    # Prefix of every Redis key this service writes (cache, rate limits).
    redis_prefix: str = "streammesh:"
    # Where the embedded database and the token signing keys live.
    data_dir: Path = DEFAULT_DATA_DIR
    key_dir: Path = field(
        default=DEFAULT_DATA_DIR / "keys",
        metadata=setting(default_from=lambda c: c["data_dir"] / "keys"),
    )
    # Access tokens: the `iss` claim and how long a token is valid. Short,
    # because a device renews it with its refresh token (RefreshSession).
    token_issuer: str = "streammesh-users"
    token_ttl_seconds: int = 900
    # Device sessions: a refresh token not used for this long expires with
    # its session (sliding: every refresh starts the period again).
    refresh_ttl_seconds: int = 30 * 24 * 3600
    # The revocation bound: how long any process may go on accepting an
    # access token of a session after it was revoked (a live session is
    # remembered this long; interceptors/auth.py SessionCheck). Every other
    # service uses interceptors.auth.DEFAULT_REVOCATION_BOUND_SECONDS.
    revocation_bound_seconds: float = 5.0
    # Stream slots: a slot not kept alive by a heartbeat for this long is
    # freed (a crashed player never holds one longer); players are told to
    # beat every third of it.
    stream_slot_ttl_seconds: int = 60
    # The plan a new account starts on (active; payment is out of scope).
    default_plan: str = "basic"
    # Cache-aside TTL of accounts and profiles (the case study's 300 s); 0
    # turns the cache off, every read goes to the database (benchmarks).
    cache_ttl_seconds: float = 300.0
    # Profiles one account may create (a household's screens).
    max_profiles_per_account: int = 5
    # A change of a profile's maturity rating, kids flag or language starts the
    # profile-update saga, which the saga orchestrator (`streammesh sagas
    # orchestrate`) carries to recommendations and search. Off: the profile row
    # alone changes (a mesh without the orchestrator, as in other services' tests).
    profile_update_sagas: bool = True
    # Run the migrations when the server starts (idempotent). On by default
    # for the embedded SQLite file; with MariaDB `streammesh migrate` does it,
    # so several processes never race on DDL.
    migrate_on_start: bool = field(
        default=True,
        metadata=setting(default_from=lambda c: c["database_url"].startswith("sqlite")),
    )
    # X-Forwarded-For is believed only from these peers (the edge's Envoy),
    # addresses or networks (a pod range, "10.244.0.0/16");
    # anyone else could forge it to dodge the per-address login limit.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    # Argon2id cost and the hashing pool (ARGON2_*, KDF_*).
    passwords: PasswordHashing = field(default_factory=PasswordHashing, metadata=nested())
    # Failed sign-ins tolerated (LOGIN_*).
    login_limits: LoginLimits = field(default_factory=LoginLimits, metadata=nested("LOGIN_"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        return settings.from_env(cls, SERVICE, environ)
