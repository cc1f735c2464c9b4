"""The users database schema as SQLAlchemy 2 models (docs/architecture.md, Services
and their stores: one database per service, embedded and real backends).

One set of models serves MariaDB (aiomysql) and SQLite (aiosqlite); the few
dialect differences are type variants here, not separate schemas:

* ids are ``BIGINT AUTO_INCREMENT`` on MariaDB and ``INTEGER`` on SQLite,
  because only an ``INTEGER PRIMARY KEY`` is SQLite's auto-assigned rowid;
* timestamps are UTC, stored without a zone (``DATETIME(6)`` on MariaDB keeps
  the microseconds SQLite's text form keeps), and written by the application
  so both dialects store exactly what the service returns;
* MariaDB tables use ``utf8mb4_bin``: comparisons are byte-wise as on SQLite,
  so uniqueness means the same on both. E-mail addresses are normalised to
  lower case before they are stored, which makes the unique index on ``email``
  case-insensitive in effect.

The Alembic revisions in ``migrations/versions`` create this schema; a test
checks they stay in step with these models.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Portable column types (see the module docstring).
Id = BigInteger().with_variant(Integer(), "sqlite")
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Payload = LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")

MYSQL_TABLE_ARGS = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}

# Stable constraint names, so migrations can refer to them on both dialects.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Column sizes: the contract's limits (users.proto), with room where the
# contract has none.
EMAIL_MAX = 254
NAME_MAX = 100
PROFILE_NAME_MAX = 50
AVATAR_URL_MAX = 2048
RATING_MAX = 10
PREFERENCE_KEY_MAX = 64
PREFERENCE_VALUE_MAX = 1024
PASSWORD_HASH_MAX = 255
PLAN_ID_MAX = 32
PAYMENT_REFERENCE_MAX = 128
SAGA_ID_MAX = 36


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UserRow(Base):
    """An account (the case study's ``users`` table)."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("email"),
        Index(None, "country_code"),
        MYSQL_TABLE_ARGS,
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), nullable=False)
    # An Argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
    password_hash: Mapped[str] = mapped_column(String(PASSWORD_HASH_MAX), nullable=False)
    first_name: Mapped[str] = mapped_column(String(NAME_MAX), nullable=False)
    last_name: Mapped[str] = mapped_column(String(NAME_MAX), nullable=False)
    country_code: Mapped[str] = mapped_column(String(2), nullable=False)
    # BCP 47 tags can be longer than the case study's 5 characters (zh-Hant-TW).
    language_code: Mapped[str] = mapped_column(
        String(35), nullable=False, default="en", server_default="en"
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    # The account-deletion saga that is deleting this account: from the
    # moment it is set (in the transaction that starts the saga) the account
    # cannot sign in or refresh (services/users/sagas).
    deletion_saga_id: Mapped[str | None] = mapped_column(String(SAGA_ID_MAX), nullable=True)


class ProfileRow(Base):
    """A viewing profile (``user_profiles``)."""

    __tablename__ = "user_profiles"
    __table_args__ = (Index(None, "user_id", "is_primary"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    profile_name: Mapped[str] = mapped_column(String(PROFILE_NAME_MAX), nullable=False)
    avatar_url: Mapped[str] = mapped_column(
        String(AVATAR_URL_MAX), nullable=False, default="", server_default=""
    )
    maturity_rating: Mapped[str] = mapped_column(
        String(RATING_MAX), nullable=False, default="PG-13", server_default="PG-13"
    )
    is_kids_profile: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default="0"
    )
    is_primary: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default="0"
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    # BCP 47; empty: the account's language.
    language_code: Mapped[str] = mapped_column(
        String(35), nullable=False, default="", server_default=""
    )
    # The latest profile-update saga (maturity, kids flag, language); while
    # it runs, another settings change of the profile is refused.
    settings_saga_id: Mapped[str | None] = mapped_column(String(SAGA_ID_MAX), nullable=True)


class PreferenceRow(Base):
    """One key/value setting of a profile (``user_preferences``)."""

    __tablename__ = "user_preferences"
    __table_args__ = (UniqueConstraint("profile_id", "preference_key"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    profile_id: Mapped[int] = mapped_column(
        Id, ForeignKey("user_profiles.id", ondelete="CASCADE"), nullable=False
    )
    # `key` is a reserved word in MySQL, hence the case study's prefixed names.
    preference_key: Mapped[str] = mapped_column(String(PREFERENCE_KEY_MAX), nullable=False)
    preference_value: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)


class PlanRow(Base):
    """A plan on offer: how many streams at once and the best picture.

    The rows are data, written by the migration that introduced them
    (r0002); a new plan or a new limit is a new migration, so every
    environment sells the same plans.
    """

    __tablename__ = "plans"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[str] = mapped_column(String(PLAN_ID_MAX), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(NAME_MAX), nullable=False)
    max_streams: Mapped[int] = mapped_column(Integer, nullable=False)
    # "SD", "HD" or "UHD" (users.v1.VideoQuality without its prefix).
    max_quality: Mapped[str] = mapped_column(String(8), nullable=False)
    # Listing order: cheapest first.
    rank: Mapped[int] = mapped_column(Integer, nullable=False)


class PlanPriceRow(Base):
    """A plan's monthly price in one country; country "ZZ" is everywhere else."""

    __tablename__ = "plan_prices"
    __table_args__ = (PrimaryKeyConstraint("plan_id", "country_code"), MYSQL_TABLE_ARGS)

    plan_id: Mapped[str] = mapped_column(
        String(PLAN_ID_MAX), ForeignKey("plans.id", ondelete="CASCADE"), nullable=False
    )
    country_code: Mapped[str] = mapped_column(String(2), nullable=False)
    # ISO 4217, and the amount in its minor unit (cents, pence).
    currency_code: Mapped[str] = mapped_column(String(3), nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)


class SubscriptionRow(Base):
    """An account's subscription (one per account, made with it)."""

    __tablename__ = "subscriptions"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    plan_id: Mapped[str] = mapped_column(
        String(PLAN_ID_MAX), ForeignKey("plans.id"), nullable=False, index=True
    )
    # "ACTIVE", "PAST_DUE" or "CANCELLED" (users.v1.SubscriptionStatus without its prefix).
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)


class BillingRecordRow(Base):
    """One entry of an account's billing history, written with each subscription change."""

    __tablename__ = "billing_records"
    __table_args__ = (Index(None, "user_id", "id"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    # "STARTED", "PLAN_CHANGED" or "STATUS_CHANGED".
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    plan_id: Mapped[str] = mapped_column(String(PLAN_ID_MAX), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    currency_code: Mapped[str] = mapped_column(String(3), nullable=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The payment provider's reference ("not-collected" without one).
    payment_reference: Mapped[str] = mapped_column(String(PAYMENT_REFERENCE_MAX), nullable=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)


class OutboxRow(Base):
    """An event written in the same transaction as the change it describes.

    The relay (events issue) publishes rows whose ``published_at`` is NULL, in
    ``created_at`` order, and stamps them once the stream has them.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index(None, "published_at", "created_at"), MYSQL_TABLE_ARGS)

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    aggregate_type: Mapped[str] = mapped_column(String(64), nullable=False)
    aggregate_id: Mapped[str] = mapped_column(String(64), nullable=False)
    event_type: Mapped[str] = mapped_column(String(128), nullable=False)
    # A serialized streammesh.events.v1.Event.
    payload: Mapped[bytes] = mapped_column(Payload, nullable=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    published_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)


class SagaRow(Base):
    """One saga of the durable saga log (services/users/sagas): where it stands.

    Written in the transaction that starts it (with the change and its outbox
    event), then once per state transition, each committed before the next
    command is sent. ``lease_owner``/``lease_expires_at`` say which
    orchestrator drives it: an orchestrator claims a saga whose lease is free
    or expired (MariaDB ``SELECT ... FOR UPDATE SKIP LOCKED``; SQLite's
    single writer makes the same claim atomic), and renews the lease while it
    works.
    """

    __tablename__ = "sagas"
    __table_args__ = (
        Index(None, "state", "next_attempt_at"),
        Index(None, "subject_id"),
        MYSQL_TABLE_ARGS,
    )

    saga_id: Mapped[str] = mapped_column(String(SAGA_ID_MAX), primary_key=True)
    # "profile_update" or "account_deletion".
    saga_type: Mapped[str] = mapped_column(String(32), nullable=False)
    # The profile or account it changes (decimal id).
    subject_id: Mapped[str] = mapped_column(String(32), nullable=False)
    account_id: Mapped[int] = mapped_column(Id, nullable=False)
    # RUNNING, COMPENSATING, COMPLETED, COMPENSATED.
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    # RUNNING: the index of the next step to run; COMPENSATING: of the next
    # step to undo (counting down).
    step_index: Mapped[int] = mapped_column(Integer, nullable=False)
    steps_done: Mapped[int] = mapped_column(Integer, nullable=False)
    # Failed attempts of the current step, and since when it has been failing.
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    failing_since: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    # JSON: the saga's input (new and previous settings, the account's profiles).
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    # The failure that made it compensate, or the current step's last failure.
    last_error: Mapped[str] = mapped_column(Text, nullable=False)
    error_code: Mapped[int] = mapped_column(Integer, nullable=False)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(Timestamp, nullable=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)


class SagaLogRow(Base):
    """The saga's history, one row per transition (``streammesh sagas show``)."""

    __tablename__ = "saga_log"
    __table_args__ = (Index(None, "saga_id", "id"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    saga_id: Mapped[str] = mapped_column(String(SAGA_ID_MAX), nullable=False)
    step: Mapped[str] = mapped_column(String(64), nullable=False)
    # started, step-done, step-failed, compensating, compensated-step, completed, compensated.
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    detail: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp, nullable=False)
