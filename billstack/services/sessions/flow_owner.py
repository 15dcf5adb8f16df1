"""A deep link's subscription must be the customer's (issue 13, item 12), as Stripe's
portal requires: a `subscription_cancel` flow naming a subscription that is unknown or
another customer's is refused at creation (400, `flow.subscriptionId`) instead of
opening a portal that silently ignores it.

The mirror answers first (one indexed SELECT, only when such a flow is given). A
subscription it does not know may simply be too new to be mirrored, so then Stripe is
asked — never while a connection, transaction or SQLite write lock is held: the unit of
work raises `SubscriptionNotMirrored`, its entry point (creation.py) rolls back, calls
`verify_in_stripe` and runs the creation again with `subscription_verified=True`.
"""

from __future__ import annotations

from typing import Any

from billstack import stripe_gateway
from billstack.db import session_scope
from billstack.errors import BillStackError, invalid
from billstack.models import Customer, Project
from billstack.services.sessions import storage
from billstack.services.sessions.request import shown
from billstack.services.views import HIDDEN_SUBSCRIPTION_STATUSES


class SubscriptionNotMirrored(Exception):
    """The deep link's subscription is not in the mirror: Stripe must say whose it is."""

    def __init__(self, project_id: str, customer_id: str, subscription_id: str) -> None:
        super().__init__(f"{subscription_id} is not mirrored for project {project_id}")
        self.project_id = project_id
        self.customer_id = customer_id
        self.subscription_id = subscription_id


def not_the_customers(subscription_id: str) -> BillStackError:
    # Unknown and another customer's read the same: the answer confirms nothing about others.
    return invalid(
        f"flow.subscriptionId {shown(subscription_id)} is not a subscription of this customer.",
        param="flow.subscriptionId",
    )


def check_in_mirror(cursor: Any, dialect: str, *, project_id: str, customer_id: str, subscription_id: str) -> None:
    """Passes for the customer's own mirrored subscription; 400 for another's (or a hidden
    one); `SubscriptionNotMirrored` when the mirror does not know it."""
    owner = storage.subscription_owner(cursor, dialect, project_id=project_id, subscription_id=subscription_id)
    if owner is None:
        raise SubscriptionNotMirrored(project_id, customer_id, subscription_id)
    owner_id, status = owner
    if owner_id != customer_id or status in HIDDEN_SUBSCRIPTION_STATUSES:
        raise not_the_customers(subscription_id)


def verify_in_stripe(miss: SubscriptionNotMirrored) -> None:
    """Stripe's word on a subscription the mirror does not know: the customer's, or 400.
    Call it with no connection held (the project and customer are read in a unit of work
    of their own, closed before Stripe is called). Stripe unreachable: its 503."""
    with session_scope() as db:
        project = db.get(Project, miss.project_id)
        customer = db.get(Customer, miss.customer_id)
    if project is None or customer is None:  # removed meanwhile: the retried creation says so
        return
    try:
        subscription = stripe_gateway.retrieve_subscription(project, miss.subscription_id)
    except BillStackError as exc:
        if exc.code == "resource_missing":
            raise not_the_customers(miss.subscription_id) from None
        raise
    owner = subscription.get("customer")
    owner_id = owner.get("id") if isinstance(owner, dict) else owner
    if owner_id != customer.stripe_customer_id or subscription.get("status") in HIDDEN_SUBSCRIPTION_STATUSES:
        raise not_the_customers(miss.subscription_id)
