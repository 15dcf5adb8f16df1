"""The mirror: one customer's subscriptions, invoices and cards, copied from Stripe.

Stripe is the system of record; these rows are the portal's read model. Input is
always a plain Stripe JSON dict (what `stripe_gateway` returns and what webhook
payloads carry), so the full sync and the per-object `apply_*` helpers (reused by
webhooks) share one mapping. Writes are set-based upserts keyed on
(project_id, stripe_id), which also makes two concurrent syncs safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, select

from billstack import stripe_gateway
from billstack.clock import from_unix, utcnow
from billstack.models import Customer, Invoice, PaymentMethod, Project, Subscription

StripeDict = Mapping[str, Any]

# Subscriptions a customer can still cancel, resume or pay for.
LIVE_STATUSES = ("active", "trialing", "past_due")
# Rows per INSERT: keeps each statement well below SQLite's bound-parameter limit.
_CHUNK = 200
_MIRROR_MODELS = (Subscription, Invoice, PaymentMethod)


def sync_customer(db: Session, project: Project, customer: Customer, *, now: datetime | None = None) -> None:
    """Refresh everything the portal shows for one customer from Stripe.

    Every read happens before the first write, so a Stripe failure part-way leaves
    the mirror exactly as it was (and raises StripeUnavailable).
    """
    stripe_customer = stripe_gateway.retrieve_customer_data(project, customer.stripe_customer_id)
    if stripe_customer.get("deleted"):
        subscriptions: list[StripeDict] = []
        invoices: list[StripeDict] = []
        methods: list[StripeDict] = []
    else:
        subscriptions = stripe_gateway.list_subscriptions(project, customer.stripe_customer_id)
        invoices = stripe_gateway.list_invoices(project, customer.stripe_customer_id)
        methods = stripe_gateway.list_card_payment_methods(project, customer.stripe_customer_id)
    now = now or utcnow()
    apply_customer(db, customer, stripe_customer)
    _replace(db, Subscription, customer, [subscription_row(project, customer, s, now) for s in subscriptions])
    _replace(db, Invoice, customer, [invoice_row(project, customer, i, now) for i in invoices])
    _replace(db, PaymentMethod, customer, [payment_method_row(project, customer, m, now) for m in methods])
    customer.synced_at = now
    db.add(customer)
    db.flush()


# --- single objects (also what webhook handlers call) ---------------------------------


def apply_customer(db: Session, customer: Customer, stripe_customer: StripeDict) -> None:
    if stripe_customer.get("deleted"):
        customer.default_payment_method_id = None
    else:
        customer.email = _clip(stripe_customer.get("email"), 320)
        customer.name = _clip(stripe_customer.get("name"), 200)
        settings = stripe_customer.get("invoice_settings") or {}
        customer.default_payment_method_id = id_of(settings.get("default_payment_method"))
    db.add(customer)


def apply_subscription(
    db: Session, project: Project, customer: Customer, stripe_sub: StripeDict, *, now: datetime | None = None
) -> None:
    _upsert(db, Subscription, [subscription_row(project, customer, stripe_sub, now or utcnow())])


def apply_invoice(
    db: Session, project: Project, customer: Customer, stripe_invoice: StripeDict, *,
    now: datetime | None = None,
) -> None:
    if stripe_invoice.get("deleted"):  # deleted drafts
        remove(db, Invoice, project, stripe_invoice["id"])
        return
    _upsert(db, Invoice, [invoice_row(project, customer, stripe_invoice, now or utcnow())])


def apply_payment_method(
    db: Session, project: Project, customer: Customer, stripe_pm: StripeDict, *, now: datetime | None = None
) -> None:
    """Upserts a card that is attached to this customer; a detached one leaves the mirror."""
    if stripe_pm.get("type") != "card" or id_of(stripe_pm.get("customer")) != customer.stripe_customer_id:
        remove(db, PaymentMethod, project, stripe_pm["id"])
        return
    _upsert(db, PaymentMethod, [payment_method_row(project, customer, stripe_pm, now or utcnow())])


def remove(db: Session, model: type[SQLModel], project: Project, stripe_id: str) -> None:
    table = model.__table__
    db.execute(sa.delete(table).where(table.c.project_id == project.id, table.c.stripe_id == stripe_id))
    _expire_mirror_objects(db)


# --- Stripe JSON → mirror rows ---------------------------------------------------------


def subscription_row(project: Project, customer: Customer, sub: StripeDict, now: datetime) -> dict[str, Any]:
    items = list((sub.get("items") or {}).get("data") or [])
    # The mirror keeps one price per subscription; the first item carries it (multi-item
    # subscriptions still list every product name).
    first = items[0] if items else {}
    price = first.get("price") or {}
    recurring = price.get("recurring") or {}
    return {
        "project_id": project.id,
        "customer_id": customer.id,
        "stripe_id": sub["id"],
        "status": sub["status"],
        "product_name": _clip(", ".join(_product_names(items)), 500) or "",
        "price_nickname": _clip(price.get("nickname"), 500),
        "unit_amount": price.get("unit_amount"),
        "currency": (price.get("currency") or sub.get("currency") or "usd").lower(),
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count") or 1,
        "quantity": first.get("quantity") or sub.get("quantity") or 1,
        "cancel_at_period_end": bool(sub.get("cancel_at_period_end")),
        "cancel_at": from_unix(sub.get("cancel_at")),
        "canceled_at": from_unix(sub.get("canceled_at")),
        "current_period_start": from_unix(_period(sub, items, "current_period_start")),
        "current_period_end": from_unix(_period(sub, items, "current_period_end")),
        "default_payment_method_id": id_of(sub.get("default_payment_method")),
        "created": from_unix(sub["created"]),
        "stripe_updated_at": now,
        "synced_at": now,
    }


def invoice_row(project: Project, customer: Customer, invoice: StripeDict, now: datetime) -> dict[str, Any]:
    return {
        "project_id": project.id,
        "customer_id": customer.id,
        "stripe_id": invoice["id"],
        "number": invoice.get("number"),
        "status": invoice.get("status") or "draft",
        "currency": (invoice.get("currency") or "usd").lower(),
        "total": invoice.get("total") or 0,
        "amount_due": invoice.get("amount_due") or 0,
        "amount_paid": invoice.get("amount_paid") or 0,
        "invoice_pdf": _clip(invoice.get("invoice_pdf"), 2000),
        "hosted_invoice_url": _clip(invoice.get("hosted_invoice_url"), 2000),
        "subscription_stripe_id": _invoice_subscription(invoice),
        "created": from_unix(invoice["created"]),
        "synced_at": now,
    }


def payment_method_row(
    project: Project, customer: Customer, method: StripeDict, now: datetime
) -> dict[str, Any]:
    card = method.get("card") or {}
    return {
        "project_id": project.id,
        "customer_id": customer.id,
        "stripe_id": method["id"],
        "type": method.get("type") or "card",
        "brand": card.get("brand"),
        "last4": card.get("last4"),
        "exp_month": card.get("exp_month"),
        "exp_year": card.get("exp_year"),
        "created": from_unix(method["created"]),
        "synced_at": now,
    }


def id_of(value: Any) -> str | None:
    """An expandable field is either an id or the expanded object."""
    if isinstance(value, Mapping):
        return value.get("id")
    return value or None


def _product_names(items: Iterable[StripeDict]) -> list[str]:
    names: list[str] = []
    for item in items:
        price = item.get("price") or {}
        product = price.get("product")
        # Unexpanded (a bare id, as in webhook payloads): no name; the upsert keeps the old one.
        name = product.get("name") if isinstance(product, Mapping) else None
        if name and name not in names:
            names.append(name)
    return names


def _period(sub: StripeDict, items: list[StripeDict], field: str) -> int | None:
    """Since API 2025-03-31 periods live on items; the earliest end is the next renewal."""
    stamps = [item[field] for item in items if item.get(field)]
    if stamps:
        return min(stamps)
    return sub.get(field)


def _invoice_subscription(invoice: StripeDict) -> str | None:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    # `invoice.subscription` is where API versions before 2025-03-31 put it.
    return id_of(details.get("subscription")) or id_of(invoice.get("subscription"))


def _clip(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


# --- set-based writes ------------------------------------------------------------------


def _replace(db: Session, model: type[SQLModel], customer: Customer, rows: list[dict[str, Any]]) -> None:
    """Make the customer's rows equal to `rows`: upsert them, delete what Stripe no longer has."""
    table = model.__table__
    existing = set(db.exec(select(table.c.stripe_id).where(table.c.customer_id == customer.id)))
    gone = existing - {row["stripe_id"] for row in rows}
    for chunk in _chunks(sorted(gone)):
        db.execute(sa.delete(table).where(table.c.customer_id == customer.id, table.c.stripe_id.in_(chunk)))
    _upsert(db, model, rows)  # (expires cached rows, the deleted ones included)


def _upsert(db: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    table = model.__table__
    insert = postgresql.insert if db.get_bind().dialect.name == "postgresql" else sqlite.insert
    for chunk in _chunks(rows):
        stmt = insert(table).values(chunk)
        updates = {name: stmt.excluded[name] for name in chunk[0] if name not in ("project_id", "stripe_id")}
        if "product_name" in updates:
            # A payload without expanded products must not blank a name we already know.
            updates["product_name"] = sa.case(
                (stmt.excluded.product_name == "", table.c.product_name), else_=stmt.excluded.product_name
            )
        db.execute(stmt.on_conflict_do_update(index_elements=["project_id", "stripe_id"], set_=updates))
    _expire_mirror_objects(db)


def _expire_mirror_objects(db: Session) -> None:
    """Core statements bypass the ORM: drop cached mirror objects so later reads see the new rows."""
    for obj in list(db.identity_map.values()):
        if isinstance(obj, _MIRROR_MODELS):
            db.expire(obj)


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
