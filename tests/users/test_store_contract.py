"""The users store contract, run against every adapter: SQLite and MariaDB.

Each write must commit with exactly one outbox event or not at all, and the
invariants that depend on other rows must hold under concurrent writers.
"""

from __future__ import annotations

import asyncio
import secrets

import pytest
import sqlalchemy as sa
from google.protobuf import any_pb2

from services.runtime.errors import AlreadyExists, FailedPrecondition, NotFound, PermissionDenied
from services.users import events
from services.users.models import OutboxRow
from services.users.store import NewAccount, ProfileFields, ProfileRecord
from services.users.stores.sql import SqlUserStore
from streammesh.events.v1 import event_pb2
from streammesh.users.v1 import events_pb2

MAX_PROFILES = 5


def new_account(email: str | None = None) -> NewAccount:
    return NewAccount(
        email=email or f"contract.{secrets.token_hex(6)}@example.com",
        password_hash="$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA",
        first_name="Grace",
        last_name="Hopper",
        country_code="US",
        language_code="en-US",
    )


def fields(name: str = "Main", rating: str = "PG-13", kids: bool = False) -> ProfileFields:
    return ProfileFields(
        profile_name=name, avatar_url="", maturity_rating=rating, kids_profile=kids
    )


async def outbox_events(store: SqlUserStore, account_id: int) -> list[event_pb2.Event]:
    table = OutboxRow.__table__
    async with store.engine.connect() as connection:
        rows = await connection.execute(
            sa.select(table.c.payload, table.c.event_type)
            .where(table.c.aggregate_id == str(account_id))
            .order_by(table.c.created_at)
        )
        found = []
        for payload, event_type in rows:
            event = event_pb2.Event.FromString(payload)
            assert event.event_type == event_type
            found.append(event)
        return found


def unpack(event: event_pb2.Event, message_type: type) -> object:
    data: any_pb2.Any = event.data
    message = message_type()
    assert data.Unpack(message)
    return message


async def test_create_account_writes_account_primary_profile_and_one_event(
    store: SqlUserStore,
) -> None:
    account, primary = await store.create_account(
        new_account(), fields("Grace"), events.account_created
    )
    assert account.account_id > 0
    assert primary.primary
    assert primary.account_id == account.account_id
    assert await store.get_account(account.account_id) == account
    assert await store.find_account_by_email(account.email) == account
    assert await store.list_profiles(account.account_id) == [primary]
    [event] = await outbox_events(store, account.account_id)
    assert event.event_type == "user.account.created"
    assert event.source == "users"
    assert event.aggregate_type == "account"
    created = unpack(event, events_pb2.AccountCreatedEvent)
    assert isinstance(created, events_pb2.AccountCreatedEvent)
    assert created.account.account_id == str(account.account_id)
    assert created.primary_profile.profile_id == str(primary.profile_id)


async def test_a_taken_email_is_already_exists_and_writes_nothing(store: SqlUserStore) -> None:
    account, _ = await store.create_account(new_account(), fields(), events.account_created)
    with pytest.raises(AlreadyExists):
        await store.create_account(new_account(account.email), fields(), events.account_created)
    assert await store.find_account_by_email(account.email) == account
    assert len(await outbox_events(store, account.account_id)) == 1


async def test_concurrent_signups_with_one_email_create_one_account(store: SqlUserStore) -> None:
    email = f"race.{secrets.token_hex(6)}@example.com"
    results = await asyncio.gather(
        *(
            store.create_account(new_account(email), fields(), events.account_created)
            for _ in range(4)
        ),
        return_exceptions=True,
    )
    created = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, AlreadyExists)]
    assert len(created) == 1
    assert len(refused) == 3


async def test_missing_rows_read_as_none(store: SqlUserStore) -> None:
    assert await store.get_account(9_000_000_001) is None
    assert await store.find_account_by_email("nobody.here@example.com") is None
    assert await store.get_profile(9_000_000_001) is None
    assert await store.list_profiles(9_000_000_001) == []


async def test_profiles_stop_at_the_limit_and_the_refused_one_leaves_no_trace(
    store: SqlUserStore,
) -> None:
    account, _ = await store.create_account(new_account(), fields(), events.account_created)
    for index in range(MAX_PROFILES - 1):
        await store.create_profile(
            account.account_id,
            fields(f"P{index}"),
            max_profiles=MAX_PROFILES,
            event=events.profile_created,
        )
    with pytest.raises(FailedPrecondition) as refused:
        await store.create_profile(
            account.account_id,
            fields("Sixth"),
            max_profiles=MAX_PROFILES,
            event=events.profile_created,
        )
    assert refused.value.reason == "PROFILE_LIMIT_REACHED"
    listed = await store.list_profiles(account.account_id)
    assert len(listed) == MAX_PROFILES
    assert listed[0].primary
    assert [p.primary for p in listed[1:]] == [False] * (MAX_PROFILES - 1)
    assert len(await outbox_events(store, account.account_id)) == MAX_PROFILES


async def test_concurrent_profile_creation_never_passes_the_limit(store: SqlUserStore) -> None:
    account, _ = await store.create_account(new_account(), fields(), events.account_created)
    results = await asyncio.gather(
        *(
            store.create_profile(
                account.account_id,
                fields(f"R{index}"),
                max_profiles=MAX_PROFILES,
                event=events.profile_created,
            )
            for index in range(8)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, ProfileRecord) for r in results) == MAX_PROFILES - 1
    assert sum(isinstance(r, FailedPrecondition) for r in results) == 8 - (MAX_PROFILES - 1)
    assert len(await store.list_profiles(account.account_id)) == MAX_PROFILES


async def test_a_profile_of_a_missing_account_is_not_found(store: SqlUserStore) -> None:
    with pytest.raises(NotFound):
        await store.create_profile(
            9_000_000_002, fields(), max_profiles=MAX_PROFILES, event=events.profile_created
        )


async def test_update_writes_the_new_fields_and_an_event(store: SqlUserStore) -> None:
    account, primary = await store.create_account(new_account(), fields(), events.account_created)
    updated = await store.update_profile(
        primary.profile_id,
        lambda current: fields("Renamed", rating="R"),
        events.profile_updated(["profile_name", "maturity_rating"]),
    )
    assert updated.profile_name == "Renamed"
    assert updated.maturity_rating == "R"
    assert updated.primary
    assert updated.created_at == primary.created_at
    assert await store.get_profile(primary.profile_id) == updated
    last = (await outbox_events(store, account.account_id))[-1]
    changed = unpack(last, events_pb2.ProfileUpdatedEvent)
    assert isinstance(changed, events_pb2.ProfileUpdatedEvent)
    assert list(changed.update_mask.paths) == ["profile_name", "maturity_rating"]
    assert changed.profile.profile_name == "Renamed"


async def test_an_update_refused_by_the_domain_changes_nothing(store: SqlUserStore) -> None:
    account, primary = await store.create_account(new_account(), fields(), events.account_created)

    def refuse(current: ProfileRecord) -> ProfileFields:
        raise PermissionDenied("not yours")

    with pytest.raises(PermissionDenied):
        await store.update_profile(primary.profile_id, refuse, events.profile_updated([]))
    assert await store.get_profile(primary.profile_id) == primary
    assert len(await outbox_events(store, account.account_id)) == 1


async def test_update_of_a_missing_profile_is_not_found(store: SqlUserStore) -> None:
    with pytest.raises(NotFound):
        await store.update_profile(9_000_000_003, lambda c: fields(), events.profile_updated([]))


async def test_the_primary_profile_cannot_be_deleted(store: SqlUserStore) -> None:
    account, primary = await store.create_account(new_account(), fields(), events.account_created)
    with pytest.raises(FailedPrecondition) as refused:
        await store.delete_profile(primary.profile_id, lambda c: None, events.profile_deleted)
    assert refused.value.reason == "PRIMARY_PROFILE"
    assert await store.get_profile(primary.profile_id) == primary
    assert len(await outbox_events(store, account.account_id)) == 1


async def test_delete_removes_the_profile_and_its_preferences(store: SqlUserStore) -> None:
    account, _ = await store.create_account(new_account(), fields(), events.account_created)
    extra = await store.create_profile(
        account.account_id, fields("Extra"), max_profiles=MAX_PROFILES, event=events.profile_created
    )
    await store.set_preference(
        extra.profile_id, "autoplay", "off", lambda c: None, events.preference_updated
    )
    deleted = await store.delete_profile(extra.profile_id, lambda c: None, events.profile_deleted)
    assert deleted == extra
    assert await store.get_profile(extra.profile_id) is None
    assert await store.list_preferences(extra.profile_id, after_key="", limit=10) == []
    kinds = [e.event_type for e in await outbox_events(store, account.account_id)]
    assert kinds == [
        "user.account.created",
        "user.profile.created",
        "user.preference.updated",
        "user.profile.deleted",
    ]
    with pytest.raises(NotFound):
        await store.delete_profile(extra.profile_id, lambda c: None, events.profile_deleted)


async def test_preferences_are_upserted_and_listed_by_key_in_pages(store: SqlUserStore) -> None:
    account, primary = await store.create_account(new_account(), fields(), events.account_created)
    for key, value in [
        ("subtitles", "fr"),
        ("autoplay", "on"),
        ("audio", "en"),
        ("autoplay", "off"),
    ]:
        stored = await store.set_preference(
            primary.profile_id, key, value, lambda c: None, events.preference_updated
        )
        assert (stored.key, stored.value, stored.account_id) == (key, value, account.account_id)
    first = await store.list_preferences(primary.profile_id, after_key="", limit=2)
    assert [(p.key, p.value) for p in first] == [("audio", "en"), ("autoplay", "off")]
    rest = await store.list_preferences(primary.profile_id, after_key=first[-1].key, limit=2)
    assert [(p.key, p.value) for p in rest] == [("subtitles", "fr")]
    assert len(await outbox_events(store, account.account_id)) == 5


async def test_a_preference_refused_by_the_guard_is_not_written(store: SqlUserStore) -> None:
    _account, primary = await store.create_account(new_account(), fields(), events.account_created)

    def refuse(current: ProfileRecord) -> None:
        raise PermissionDenied("not yours")

    with pytest.raises(PermissionDenied):
        await store.set_preference(
            primary.profile_id, "autoplay", "on", refuse, events.preference_updated
        )
    assert await store.list_preferences(primary.profile_id, after_key="", limit=10) == []
    with pytest.raises(NotFound):
        await store.set_preference(
            9_000_000_004, "autoplay", "on", lambda c: None, events.preference_updated
        )


async def test_unicode_and_limits_round_trip(store: SqlUserStore) -> None:
    name = "Zoë 🎬 " + "x" * 40
    _account, primary = await store.create_account(
        new_account(), fields(name[:50]), events.account_created
    )
    assert (await store.get_profile(primary.profile_id)) == primary
    assert primary.profile_name == name[:50]
