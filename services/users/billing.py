"""Where a payment provider plugs in. Payment itself is out of scope.

The users service records plans, subscriptions and a billing history, but
collects no money. A plan change asks a :class:`PaymentProvider` first: a
real one (Stripe, Adyen, a carrier's billing) would authorise the new
monthly price and return its reference, or decline, and its webhooks would
call the internal ``SetSubscriptionStatus`` RPC when a renewal fails
(PAST_DUE), is recovered (ACTIVE) or gives up (CANCELLED). The reference is
kept in the billing record the change writes.

The one provider shipped, :class:`NoPayment`, approves everything and
collects nothing: its reference says so ("not-collected").
"""

from __future__ import annotations

from typing import Final, Protocol

from services.users.store import PlanRecord

NOT_COLLECTED: Final = "not-collected"


class PaymentProvider(Protocol):
    async def authorize_plan(self, account_id: int, plan: PlanRecord) -> str:
        """Authorises ``plan``'s monthly price (``plan.price``) for the account;
        returns the provider's reference. Raises FailedPrecondition (reason
        PAYMENT_DECLINED) to refuse the change, Unavailable when the provider
        cannot be reached."""
        ...


class NoPayment:
    """Approves every change and collects nothing (payment is out of scope)."""

    async def authorize_plan(self, account_id: int, plan: PlanRecord) -> str:
        return NOT_COLLECTED
