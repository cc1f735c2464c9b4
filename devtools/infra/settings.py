"""Where the infrastructure keeps its state and its downloads."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STATE_DIR = Path(".streammesh/infra")


@dataclass(frozen=True)
class InfraSettings:
    """Folders used by ``streammesh infra``.

    state_dir: data, logs, configs and pidfiles of every backend; git-ignored,
        removed by ``infra reset``. ``STREAMMESH_INFRA_DIR`` overrides it.
    cache_dir: downloaded jars (Cassandra, OpenSearch), shared by every clone
        on the machine and kept across resets; outside the repository.
        ``STREAMMESH_CACHE_DIR`` overrides it. For root it is
        /var/cache/streammesh, because OpenSearch refuses to run as root and
        the unprivileged user it runs as cannot read root's home.
    """

    state_dir: Path
    cache_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> InfraSettings:
        state = Path(environ.get("STREAMMESH_INFRA_DIR", str(DEFAULT_STATE_DIR)))
        if os.geteuid() == 0:
            default_cache = Path("/var/cache/streammesh")
        else:
            xdg_cache = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
            default_cache = Path(xdg_cache) / "streammesh"
        cache = Path(environ.get("STREAMMESH_CACHE_DIR", str(default_cache)))
        return cls(state_dir=state.absolute(), cache_dir=cache.absolute())
