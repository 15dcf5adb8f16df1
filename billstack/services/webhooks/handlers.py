"""Bring the mirror up to date for one event: an event is only a signal.

Its object is re-fetched from Stripe and the mirror written from that, so the mirror
always converges on Stripe's current state whatever order deliveries arrive in, and a
duplicate or stale event changes nothing. Only customers linked to the project (`pc_…`)
are mirrored; other events are ignored without a Stripe call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, select

from billstack import stripe_gateway
from billstack.errors import BillStackError
from billstack.models import Customer, Invoice, PaymentMethod, Project, Subscription, WebhookEvent
from billstack.services import sync
from billstack.services.mirror_rows import BILLING_STATUSES
from billstack.services.sync import id_of
from billstack.services.webhooks.events import APPLIED, IGNORED_CUSTOMER, IGNORED_TYPE, UNCHANGED, kind_of


@dataclass
class Result:
    outcome: str
    changed: set[str] = field(default_factory=set)  # customer ids whose mirror changed


def process_event(db: Session, event: WebhookEvent) -> Result:
    """Bring the mirror up to date for what `event` is about, from Stripe's current state."""
    project = db.get(Project, event.project_id)
    kind = kind_of(event.type)
    if project is None or kind is None or not event.object_id:
        return Result(IGNORED_TYPE)
    return _HANDLERS[kind](db, project, event)


def _known_customer(db: Session, project: Project, stripe_customer_id: str | None) -> Customer | None:
    if not stripe_customer_id:
        return None
    return db.exec(
        select(Customer).where(
            Customer.project_id == project.id,
            Customer.stripe_customer_id == stripe_customer_id,
            Customer.removed_at.is_(None),
        )
    ).first()


def _result(changed: bool, customer: Customer) -> Result:
    return Result(APPLIED, {customer.id}) if changed else Result(UNCHANGED)


def _on_subscription(db: Session, project: Project, event: WebhookEvent) -> Result:
    return _refetch_one(
        db, project, event, Subscription, stripe_gateway.retrieve_subscription, sync.apply_subscription
    )


def _on_subscription_schedule(db: Session, project: Project, event: WebhookEvent) -> Result:
    """A schedule changed (made, phases set, released at the boundary…): re-sync its
    subscription, whose mirror row carries the change waiting for the period end."""
    customer = _known_customer(db, project, event.stripe_customer_id)
    if customer is None:
        return Result(IGNORED_CUSTOMER)
    try:
        schedule = stripe_gateway.retrieve_subscription_schedule(project, event.object_id)
    except BillStackError as exc:
        if exc.status != 404:
            raise
        return Result(UNCHANGED)  # gone with its subscription, whose own events say so
    subscription_id = id_of(schedule.get("subscription")) or id_of(schedule.get("released_subscription"))
    if subscription_id is None:
        return Result(UNCHANGED)
    return _refetch_one(
        db, project, event, Subscription, stripe_gateway.retrieve_subscription, sync.apply_subscription,
        object_id=subscription_id,
    )


def _on_invoice(db: Session, project: Project, event: WebhookEvent) -> Result:
    return _refetch_one(db, project, event, Invoice, stripe_gateway.retrieve_invoice, sync.apply_invoice)


def _refetch_one(
    db: Session,
    project: Project,
    event: WebhookEvent,
    model: type,
    retrieve: Callable[[Project, str], dict[str, Any]],
    apply: Callable[..., bool],
    *,
    object_id: str | None = None,
) -> Result:
    """Re-read the event's object (or `object_id`, another object it is about) and mirror it."""
    object_id = object_id or event.object_id
    customer = _known_customer(db, project, event.stripe_customer_id)
    if customer is None:
        return Result(IGNORED_CUSTOMER)
    sync.lock_customer(db, customer)  # before the read, so no older read can be written after ours
    try:
        obj = retrieve(project, object_id)
    except BillStackError as exc:
        if exc.status != 404:
            raise
        return _result(sync.forget(db, project, customer, model, object_id), customer)
    if id_of(obj.get("customer")) != customer.stripe_customer_id:
        return Result(IGNORED_CUSTOMER)
    return _result(apply(db, project, customer, obj), customer)


def _on_payment_method(db: Session, project: Project, event: WebhookEvent) -> Result:
    """A card event re-reads the whole card list (and default) of whoever had or has the card."""
    candidates = [_known_customer(db, project, event.stripe_customer_id), _card_owner(db, project, event.object_id)]
    customers = {c.id: c for c in candidates if c}
    if not customers:
        return Result(IGNORED_CUSTOMER)
    changed = {c.id for c in customers.values() if _refresh_cards(db, project, c)}
    return Result(APPLIED, changed) if changed else Result(UNCHANGED)


def _card_owner(db: Session, project: Project, payment_method_id: str | None) -> Customer | None:
    row = db.exec(
        select(PaymentMethod).where(
            PaymentMethod.project_id == project.id, PaymentMethod.stripe_id == payment_method_id
        )
    ).first()
    return db.get(Customer, row.customer_id) if row is not None else None


def _refresh_cards(db: Session, project: Project, customer: Customer) -> bool:
    sync.lock_customer(db, customer)
    stripe_customer = stripe_gateway.retrieve_customer_data(project, customer.stripe_customer_id)
    if stripe_customer.get("deleted"):
        methods: list[dict[str, Any]] = []
    else:
        methods = stripe_gateway.list_card_payment_methods(project, customer.stripe_customer_id)
    return sync.replace_payment_methods(db, project, customer, stripe_customer, methods) > 0


def _on_customer(db: Session, project: Project, event: WebhookEvent) -> Result:
    customer = _known_customer(db, project, event.object_id)
    if customer is None:
        return Result(IGNORED_CUSTOMER)
    sync.lock_customer(db, customer)
    stripe_customer = stripe_gateway.retrieve_customer_data(project, customer.stripe_customer_id)
    if stripe_customer.get("deleted"):  # nothing of theirs is billable any more: empty the mirror
        written = sync.sync_customer(db, project, customer, stripe_customer=stripe_customer) > 0
        return _result(written, customer)
    return _result(sync.apply_customer(db, customer, stripe_customer), customer)


def _on_tax_id(db: Session, project: Project, event: WebhookEvent) -> Result:
    """A tax id was added, verified or removed: re-read the customer's whole tax id list."""
    customer = _known_customer(db, project, event.stripe_customer_id)
    if customer is None:
        return Result(IGNORED_CUSTOMER)
    sync.lock_customer(db, customer)
    try:
        tax_ids = stripe_gateway.list_tax_ids(project, customer.stripe_customer_id)
    except BillStackError as exc:
        if exc.status != 404:
            raise
        return Result(UNCHANGED)  # the customer is gone: customer.deleted empties the mirror
    return _result(sync.replace_tax_ids(db, project, customer, tax_ids) > 0, customer)


def _on_invoice_item(db: Session, project: Project, event: WebhookEvent) -> Result:
    """A pending invoice item (a proration, a one-off charge) changes what the next invoice of
    the customer's subscriptions asks for: re-read those that will bill again."""
    customer = _known_customer(db, project, event.stripe_customer_id)
    if customer is None:
        return Result(IGNORED_CUSTOMER)
    billing = db.exec(
        select(Subscription.stripe_id).where(
            Subscription.customer_id == customer.id,
            Subscription.status.in_(BILLING_STATUSES),
            Subscription.cancel_at_period_end.is_(False),
        )
    ).all()
    changed = False
    for subscription_id in billing:
        result = _refetch_one(
            db, project, event, Subscription, stripe_gateway.retrieve_subscription, sync.apply_subscription,
            object_id=subscription_id,
        )
        changed = changed or result.outcome == APPLIED
    return _result(changed, customer)


def _on_checkout_session(db: Session, project: Project, event: WebhookEvent) -> Result:
    """A completed setup-mode Checkout added a card: refresh the customer's cards and default."""
    session = stripe_gateway.retrieve_checkout_session(project, event.object_id)
    if session.get("mode") != "setup":
        return Result(IGNORED_TYPE)
    customer = _known_customer(db, project, id_of(session.get("customer")))
    if customer is None:
        return Result(IGNORED_CUSTOMER)
    return _result(_refresh_cards(db, project, customer), customer)


_HANDLERS: dict[str, Callable[[Session, Project, WebhookEvent], Result]] = {
    "subscription": _on_subscription,
    "invoice": _on_invoice,
    "payment_method": _on_payment_method,
    "customer": _on_customer,
    "checkout_session": _on_checkout_session,
    "subscription_schedule": _on_subscription_schedule,
    "tax_id": _on_tax_id,
    "invoice_item": _on_invoice_item,
}
