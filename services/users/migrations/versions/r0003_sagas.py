"""The saga log (issue 18): sagas and saga_log; profiles gain a language and
their latest settings saga; accounts the deletion saga deleting them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The portable types of services/users/models.py, spelled out as in 0001.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def upgrade() -> None:
    op.create_table(
        "sagas",
        sa.Column("saga_id", sa.String(36), nullable=False),
        sa.Column("saga_type", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("step_index", sa.Integer(), nullable=False),
        sa.Column("steps_done", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failing_since", Timestamp, nullable=True),
        sa.Column("next_attempt_at", Timestamp, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("saga_id", name="pk_sagas"),
        **MYSQL,
    )
    op.create_index("ix_sagas_state_next_attempt_at", "sagas", ["state", "next_attempt_at"])
    op.create_index("ix_sagas_subject_id", "sagas", ["subject_id"])
    op.create_table(
        "saga_log",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("saga_id", sa.String(36), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_saga_log"),
        **MYSQL,
    )
    op.create_index("ix_saga_log_saga_id_id", "saga_log", ["saga_id", "id"])
    with op.batch_alter_table("user_profiles") as batch:
        batch.add_column(
            sa.Column("language_code", sa.String(35), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("settings_saga_id", sa.String(36), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("deletion_saga_id", sa.String(36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("deletion_saga_id")
    with op.batch_alter_table("user_profiles") as batch:
        batch.drop_column("settings_saga_id")
        batch.drop_column("language_code")
    op.drop_table("saga_log")
    op.drop_table("sagas")
