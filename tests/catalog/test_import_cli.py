"""`streammesh import-catalog` as an operator runs it: a process, its report,
its exit code, and the running services' cache dropped for updated titles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from redis.asyncio import Redis

from services.catalog.netflix_csv import title_id_for
from services.runtime.cache import Cache
from tests.catalog.conftest import DATA

REPO = Path(__file__).resolve().parents[2]
# A bound on each command; the fixture file imports in well under a second.
COMMAND_TIMEOUT_SECONDS = 120


def import_catalog(
    path: Path, env: dict[str, str], *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "import-catalog", str(path), *extra],
        cwd=REPO,
        env={**os.environ, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )


async def test_the_command_reports_and_refreshes_the_cache(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    prefix = f"{redis_prefix}import-cli:"
    env = {
        "STREAMMESH_CATALOG_BACKEND": "embedded",
        "STREAMMESH_CATALOG_SQLITE_PATH": str(tmp_path / "catalog.db"),
        "STREAMMESH_CATALOG_REDIS_URL": redis_url,
        "STREAMMESH_CATALOG_REDIS_PREFIX": prefix,
    }
    path = tmp_path / "titles.csv"
    path.write_text((DATA / "defects.csv").read_text())
    first = import_catalog(path, env, "--concurrency", "4")
    assert first.returncode == 0, first.stderr
    assert "│   19 │        5 │       5 │       0 │         0 │       14 │" in first.stdout
    assert "rating column holds a duration ('74 min'): the row is shifted" in first.stdout

    redis = Redis.from_url(redis_url)
    titles = Cache(redis, "catalog.title", prefix=prefix)

    async def stale() -> bytes:
        return b"cached before the re-import"

    async def fresh() -> bytes:
        return b"read from the store"

    try:
        assert await titles.get_or_load(title_id_for("s1"), stale) == b"cached before the re-import"
        assert await titles.get_or_load(title_id_for("s1"), fresh) == b"cached before the re-import"
        path.write_text(path.read_text().replace("Dick Johnson Is Dead", "Dick Johnson Lives"))
        second = import_catalog(path, env)
        assert second.returncode == 0, second.stderr
        assert "│   19 │        5 │       0 │       1 │         4 │       14 │" in second.stdout
        assert await titles.get_or_load(title_id_for("s1"), fresh) == b"read from the store"
        third = import_catalog(path, env)
        assert "No change" in third.stdout
    finally:
        await redis.aclose()


def test_a_missing_file_or_a_bad_concurrency_is_refused(tmp_path: Path) -> None:
    env = {"STREAMMESH_CATALOG_SQLITE_PATH": str(tmp_path / "catalog.db")}
    missing = import_catalog(tmp_path / "nope.csv", env)
    assert missing.returncode == 2
    assert "is not a file" in missing.stdout
    too_many = import_catalog(DATA / "defects.csv", env, "--concurrency", "0")
    assert too_many.returncode == 2
    assert not (tmp_path / "catalog.db").exists()
