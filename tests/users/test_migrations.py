"""Migrations: the same schema as the models on both dialects, idempotent, run by the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from services.users import migrations
from services.users.models import Base
from services.users.stores.sql import create_engine


async def test_the_migrated_schema_matches_the_models(store_url: str) -> None:
    assert await migrations.current_revision(store_url) == migrations.head_revision()
    engine = create_engine(store_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert differences == []


async def test_upgrading_twice_changes_nothing(store_url: str) -> None:
    await migrations.apply_url(store_url)
    assert await migrations.current_revision(store_url) == migrations.head_revision()


async def test_a_fresh_database_starts_unmigrated(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    assert await migrations.current_revision(url) is None
    await migrations.apply_url(url)
    assert await migrations.current_revision(url) == migrations.head_revision()


def test_streammesh_migrate_reports_one_line_and_is_idempotent(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        STREAMMESH_USERS_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
    )
    command = [sys.executable, "-m", "services.cli", "migrate", "users"]
    for _ in range(2):
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("users: schema up to date")
    unknown = subprocess.run(
        [sys.executable, "-m", "services.cli", "migrate", "nosuch"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unknown.returncode == 2
    assert "no migrations for: nosuch" in unknown.stdout
