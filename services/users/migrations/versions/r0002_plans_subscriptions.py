"""Plans with their prices, subscriptions and the billing history.

Every existing account gets an active subscription on the Basic plan and a
"started" billing record, so after this revision every account has exactly
one subscription, as accounts created from now on do.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | None = "0001"
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

# (id, display name, streams at once, best quality, rank): Netflix's
# familiar tiers.
PLANS = [
    ("basic", "Basic", 1, "SD", 1),
    ("standard", "Standard", 2, "HD", 2),
    ("premium", "Premium", 4, "UHD", 3),
]
# Monthly prices in minor units per country; "ZZ" is every other country.
PRICES: dict[str, tuple[str, int, int, int]] = {
    "US": ("USD", 699, 1549, 2299),
    "CA": ("CAD", 599, 1899, 2399),
    "GB": ("GBP", 599, 1099, 1799),
    "DE": ("EUR", 499, 1399, 1999),
    "FR": ("EUR", 599, 1349, 1999),
    "ES": ("EUR", 699, 1299, 1999),
    "IN": ("INR", 19900, 49900, 64900),
    "JP": ("JPY", 890, 1590, 2290),
    "BR": ("BRL", 1890, 3990, 5990),
    "ZZ": ("USD", 799, 1299, 1899),
}
FIRST_PLAN = "basic"
NO_PAYMENT = "not-collected"


def upgrade() -> None:
    plans = op.create_table(
        "plans",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("max_streams", sa.Integer(), nullable=False),
        sa.Column("max_quality", sa.String(8), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_plans"),
        **MYSQL,
    )
    prices = op.create_table(
        "plan_prices",
        sa.Column("plan_id", sa.String(32), nullable=False),
        sa.Column("country_code", sa.String(2), nullable=False),
        sa.Column("currency_code", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", "country_code", name="pk_plan_prices"),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name="fk_plan_prices_plan_id_plans", ondelete="CASCADE"
        ),
        **MYSQL,
    )
    op.create_table(
        "subscriptions",
        sa.Column("user_id", Id, nullable=False, autoincrement=False),
        sa.Column("plan_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_subscriptions"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_subscriptions_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name="fk_subscriptions_plan_id_plans"),
        **MYSQL,
    )
    op.create_index("ix_subscriptions_plan_id", "subscriptions", ["plan_id"])
    op.create_table(
        "billing_records",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("plan_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("currency_code", sa.String(3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("payment_reference", sa.String(128), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_billing_records"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_billing_records_user_id_users", ondelete="CASCADE"
        ),
        **MYSQL,
    )
    op.create_index("ix_billing_records_user_id_id", "billing_records", ["user_id", "id"])

    op.bulk_insert(
        plans,
        [
            {"id": i, "display_name": n, "max_streams": s, "max_quality": q, "rank": r}
            for i, n, s, q, r in PLANS
        ],
    )
    op.bulk_insert(
        prices,
        [
            {
                "plan_id": plan[0],
                "country_code": country,
                "currency_code": currency,
                "amount_minor": amount,
            }
            for country, (currency, *amounts) in PRICES.items()
            for plan, amount in zip(PLANS, amounts, strict=True)
        ],
    )
    # The accounts that exist already: Basic, active, one "started" record
    # priced in their country (or everywhere else's price).
    now = datetime.now(UTC).replace(tzinfo=None)
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "INSERT INTO subscriptions (user_id, plan_id, status, created_at, updated_at) "
            "SELECT id, :plan, 'ACTIVE', :now, :now FROM users"
        ),
        {"plan": FIRST_PLAN, "now": now},
    )
    bind.execute(
        sa.text(
            "INSERT INTO billing_records (user_id, kind, plan_id, status, currency_code, "
            "amount_minor, payment_reference, created_at) "
            "SELECT u.id, 'STARTED', :plan, 'ACTIVE', p.currency_code, p.amount_minor, "
            ":reference, :now FROM users u JOIN plan_prices p ON p.plan_id = :plan AND "
            "p.country_code = CASE WHEN EXISTS (SELECT 1 FROM plan_prices c WHERE "
            "c.plan_id = :plan AND c.country_code = u.country_code) THEN u.country_code "
            "ELSE 'ZZ' END"
        ),
        {"plan": FIRST_PLAN, "now": now, "reference": NO_PAYMENT},
    )


def downgrade() -> None:
    op.drop_table("billing_records")
    op.drop_table("subscriptions")
    op.drop_table("plan_prices")
    op.drop_table("plans")
