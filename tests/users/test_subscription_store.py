"""Plans and subscriptions in the store, on SQLite and MariaDB: every change commits
with its billing record and one `user.subscription.changed` event, or not at all."""

from __future__ import annotations

import asyncio

import pytest

from services.runtime.errors import FailedPrecondition, NotFound
from services.users import events
from services.users.store import SubscriptionChange, SubscriptionRecord
from services.users.stores.sql import SqlUserStore
from streammesh.users.v1 import events_pb2, users_pb2
from tests.users.test_store_contract import fields, new_account, outbox_events


async def test_a_new_account_starts_on_the_first_plan_with_a_billing_record(
    store: SqlUserStore,
) -> None:
    account, _ = await store.create_account(new_account(), fields(), events.account_created)
    subscription = await store.get_subscription(account.account_id)
    assert subscription is not None
    assert (subscription.plan.plan_id, subscription.status) == ("basic", "ACTIVE")
    assert subscription.plan.price.currency_code == "USD"  # a US account
    [started] = await store.list_billing_records(account.account_id, before_id=0, limit=10)
    assert (started.kind, started.plan_id, started.payment_reference) == (
        "STARTED",
        "basic",
        "not-collected",
    )
    assert await store.get_subscription(10**15) is None


async def test_a_plan_change_commits_with_its_record_and_one_event(store: SqlUserStore) -> None:
    account, _ = await store.create_account(new_account(), fields(), events.account_created)

    def to_premium(current: SubscriptionRecord) -> SubscriptionChange | None:
        return SubscriptionChange("premium", "ACTIVE", "PLAN_CHANGED", "ref-1")

    changed = await store.change_subscription(
        account.account_id, to_premium, events.subscription_changed
    )
    assert (changed.plan.plan_id, changed.plan.max_streams) == ("premium", 4)
    last = (await outbox_events(store, account.account_id))[-1]
    assert last.event_type == "user.subscription.changed"
    payload = events_pb2.SubscriptionChangedEvent()
    assert last.data.Unpack(payload)
    assert payload.previous_plan_id == "basic"
    assert payload.subscription.plan_id == "premium"
    assert payload.subscription.max_streams == 4
    assert payload.previous_status == users_pb2.SUBSCRIPTION_STATUS_ACTIVE
    records = await store.list_billing_records(account.account_id, before_id=0, limit=10)
    assert [(r.kind, r.payment_reference) for r in records] == [
        ("PLAN_CHANGED", "ref-1"),
        ("STARTED", "not-collected"),
    ]
    # No change decided: nothing written, no event.
    before = len(await outbox_events(store, account.account_id))
    same = await store.change_subscription(
        account.account_id, lambda current: None, events.subscription_changed
    )
    assert same.plan.plan_id == "premium"
    assert len(await outbox_events(store, account.account_id)) == before


async def test_a_refused_or_unknown_change_writes_nothing(store: SqlUserStore) -> None:
    account, _ = await store.create_account(new_account(), fields(), events.account_created)
    before = len(await outbox_events(store, account.account_id))

    def declined(current: SubscriptionRecord) -> SubscriptionChange | None:
        raise FailedPrecondition("declined", reason="PAYMENT_DECLINED")

    with pytest.raises(FailedPrecondition):
        await store.change_subscription(account.account_id, declined, events.subscription_changed)
    with pytest.raises(NotFound):
        await store.change_subscription(
            account.account_id,
            lambda current: SubscriptionChange("platinum", "ACTIVE", "PLAN_CHANGED", "r"),
            events.subscription_changed,
        )
    with pytest.raises(NotFound):
        await store.change_subscription(
            10**15,
            lambda current: SubscriptionChange("premium", "ACTIVE", "PLAN_CHANGED", "r"),
            events.subscription_changed,
        )
    assert len(await outbox_events(store, account.account_id)) == before
    assert len(await store.list_billing_records(account.account_id, before_id=0, limit=10)) == 1


async def test_concurrent_changes_each_see_the_one_before(store: SqlUserStore) -> None:
    account, _ = await store.create_account(new_account(), fields(), events.account_created)
    seen: list[str] = []

    def cycle(current: SubscriptionRecord) -> SubscriptionChange | None:
        seen.append(current.plan.plan_id)
        following = {"basic": "standard", "standard": "premium", "premium": "basic"}
        return SubscriptionChange(following[current.plan.plan_id], "ACTIVE", "PLAN_CHANGED", "r")

    await asyncio.gather(
        *(
            store.change_subscription(account.account_id, cycle, events.subscription_changed)
            for _ in range(6)
        )
    )
    # Serialised by the account's lock: each change started from the last one's result.
    assert seen == ["basic", "standard", "premium", "basic", "standard", "premium"]
    changed = [
        e
        for e in await outbox_events(store, account.account_id)
        if e.event_type == "user.subscription.changed"
    ]
    assert len(changed) == 6


async def test_plans_are_priced_per_country_else_elsewhere(store: SqlUserStore) -> None:
    gb = await store.list_plans("GB")
    assert [(p.plan_id, p.price.currency_code) for p in gb] == [
        ("basic", "GBP"),
        ("standard", "GBP"),
        ("premium", "GBP"),
    ]
    nz = await store.get_plan("standard", "NZ")
    assert nz is not None
    assert nz.price.currency_code == "USD"
    assert await store.get_plan("platinum", "GB") is None
