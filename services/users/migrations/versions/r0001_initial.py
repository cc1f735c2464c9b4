"""Accounts, profiles, preferences and the outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same portable types as services/users/models.py, spelled out here so
# this revision keeps meaning what it meant when the models move on.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Payload = sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")
MYSQL: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("country_code", sa.String(2), nullable=False),
        sa.Column("language_code", sa.String(35), nullable=False, server_default="en"),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
        **MYSQL,
    )
    op.create_index("ix_users_country_code", "users", ["country_code"])

    op.create_table(
        "user_profiles",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("profile_name", sa.String(50), nullable=False),
        sa.Column("avatar_url", sa.String(2048), nullable=False, server_default=""),
        sa.Column("maturity_rating", sa.String(10), nullable=False, server_default="PG-13"),
        sa.Column("is_kids_profile", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("is_primary", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_user_profiles"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_profiles_user_id_users", ondelete="CASCADE"
        ),
        **MYSQL,
    )
    op.create_index(
        "ix_user_profiles_user_id_is_primary", "user_profiles", ["user_id", "is_primary"]
    )

    op.create_table(
        "user_preferences",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("profile_id", Id, nullable=False),
        sa.Column("preference_key", sa.String(64), nullable=False),
        sa.Column("preference_value", sa.Text(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_user_preferences"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_user_preferences_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["profile_id"],
            ["user_profiles.id"],
            name="fk_user_preferences_profile_id_user_profiles",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "profile_id", "preference_key", name="uq_user_preferences_profile_id_preference_key"
        ),
        **MYSQL,
    )
    op.create_index("ix_user_preferences_user_id", "user_preferences", ["user_id"])

    op.create_table(
        "outbox",
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("aggregate_type", sa.String(64), nullable=False),
        sa.Column("aggregate_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("payload", Payload, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("published_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("event_id", name="pk_outbox"),
        **MYSQL,
    )
    op.create_index("ix_outbox_published_at_created_at", "outbox", ["published_at", "created_at"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("user_preferences")
    op.drop_table("user_profiles")
    op.drop_table("users")
