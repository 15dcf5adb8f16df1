"""The mirror: one customer's subscriptions, invoices and cards, copied from Stripe.

Stripe is the system of record; these rows are the portal's read model. Input is
always a plain Stripe JSON dict (what `stripe_gateway` returns and what webhook
payloads carry), so the full sync and the per-object `apply_*` helpers (reused by
webhooks) share one mapping. Writes are set-based upserts keyed on
(project_id, stripe_id), which also makes two concurrent syncs safe.

Only rows whose content differs from Stripe's are written, so a sync of an unchanged
customer writes nothing but `customer.synced_at` (when it was last checked), and every
write that changes something bumps `customer.mirror_version`, which open portal pages
watch for live updates (services/live.py). Writers lock the customer row first
(`SELECT … FOR UPDATE` on PostgreSQL; SQLite serialises writers anyway), and locks are
always taken in one order: customer, then its mirror rows.

A full sync holds no transaction while it reads Stripe (a slow Stripe must not hold
database connections and row locks): it notes the customer's mirror version, reads
Stripe, then locks the customer and writes only if that version is unchanged. If another
writer changed the mirror meanwhile, what was read may be older than what it wrote, so
Stripe is read again (up to SYNC_ATTEMPTS times).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, select

from billstack import stripe_gateway
from billstack.clock import from_unix, utcnow
from billstack.db import release_connection
from billstack.models import Customer, Invoice, PaymentMethod, Project, Subscription

log = logging.getLogger("billstack.sync")

StripeDict = Mapping[str, Any]
# Full reads of Stripe per sync while other writers keep changing the customer's mirror.
SYNC_ATTEMPTS = 3

# Rows per INSERT: keeps each statement well below SQLite's bound-parameter limit.
_CHUNK = 200
_MIRROR_MODELS = (Subscription, Invoice, PaymentMethod)
# Bookkeeping columns: when we wrote a row, not what Stripe says; never a reason to write.
_BOOKKEEPING = frozenset({"synced_at", "stripe_updated_at"})


@dataclass(frozen=True)
class CustomerState:
    """Everything the portal shows for one customer, as Stripe has it now."""

    customer: StripeDict
    subscriptions: list[StripeDict]
    invoices: list[StripeDict]
    payment_methods: list[StripeDict]


def sync_customer(
    db: Session,
    project: Project,
    customer: Customer,
    *,
    now: datetime | None = None,
    stripe_customer: StripeDict | None = None,
) -> int:
    """Refresh everything the portal shows for one customer from Stripe.

    Every read happens before the first write, so a Stripe failure part-way leaves
    the mirror exactly as it was (and raises StripeUnavailable). Returns the number of
    rows written (0 when the mirror already matched Stripe, or when other writers kept
    changing it: see the module's docstring). `stripe_customer` saves the customer read
    when the caller already has it (e.g. from a customer list).

    The caller's unit of work so far is committed before Stripe is read (its connection
    goes back to the pool); the mirror's rows are written in a new transaction.
    """
    for _attempt in range(SYNC_ATTEMPTS):
        seen = _mirror_version(db, customer)
        release_connection(db)
        state = fetch_customer_state(project, customer.stripe_customer_id, stripe_customer=stripe_customer)
        if _lock_if_unchanged(db, customer, seen):
            return write_customer_state(db, project, customer, state, now=now)
        release_connection(db)  # let the other writer's newer rows stand; read Stripe again
        stripe_customer = None
    log.warning("sync of customer %s skipped: its mirror kept changing while Stripe was read", customer.id)
    return 0


def fetch_customer_state(
    project: Project, stripe_customer_id: str, *, stripe_customer: StripeDict | None = None
) -> CustomerState:
    """Stripe reads only (no database): the customer, their subscriptions, invoices and cards."""
    if stripe_customer is None:
        stripe_customer = stripe_gateway.retrieve_customer_data(project, stripe_customer_id)
    if stripe_customer.get("deleted"):
        return CustomerState(stripe_customer, [], [], [])
    return CustomerState(
        stripe_customer,
        stripe_gateway.list_subscriptions(project, stripe_customer_id),
        stripe_gateway.list_invoices(project, stripe_customer_id),
        stripe_gateway.list_card_payment_methods(project, stripe_customer_id),
    )


def write_customer_state(
    db: Session, project: Project, customer: Customer, state: CustomerState, *, now: datetime | None = None
) -> int:
    """Make the customer's mirror equal to `state`; returns the number of rows written."""
    now = now or utcnow()
    lock_customer(db, customer)
    written = int(_apply_customer_fields(customer, state.customer))
    written += _replace(db, Subscription, customer, [subscription_row(project, customer, s, now) for s in state.subscriptions])
    written += _replace(db, Invoice, customer, [invoice_row(project, customer, i, now) for i in state.invoices])
    written += _replace(
        db, PaymentMethod, customer, [payment_method_row(project, customer, m, now) for m in state.payment_methods]
    )
    customer.synced_at = now
    db.add(customer)
    if written:
        bump_mirror_version(db, customer)
    db.flush()
    return written


def replace_payment_methods(
    db: Session, project: Project, customer: Customer, stripe_customer: StripeDict, methods: list[StripeDict],
    *, now: datetime | None = None,
) -> int:
    """The customer's cards and default card, as Stripe lists them now (webhooks about cards)."""
    now = now or utcnow()
    lock_customer(db, customer)
    written = int(_apply_customer_fields(customer, stripe_customer))
    written += _replace(db, PaymentMethod, customer, [payment_method_row(project, customer, m, now) for m in methods])
    db.add(customer)
    if written:
        bump_mirror_version(db, customer)
    db.flush()
    return written


# --- single objects (also what webhook handlers call) ---------------------------------
# Each returns True when it changed the mirror.


def apply_customer(db: Session, customer: Customer, stripe_customer: StripeDict) -> bool:
    lock_customer(db, customer)
    changed = _apply_customer_fields(customer, stripe_customer)
    db.add(customer)
    if changed:
        bump_mirror_version(db, customer)
    return changed


def apply_subscription(
    db: Session, project: Project, customer: Customer, stripe_sub: StripeDict, *, now: datetime | None = None
) -> bool:
    lock_customer(db, customer)
    return _changed_mirror(db, customer, _upsert(db, Subscription, [subscription_row(project, customer, stripe_sub, now or utcnow())]))


def apply_invoice(
    db: Session, project: Project, customer: Customer, stripe_invoice: StripeDict, *,
    now: datetime | None = None,
) -> bool:
    lock_customer(db, customer)
    if stripe_invoice.get("deleted"):  # deleted drafts
        return _changed_mirror(db, customer, remove(db, Invoice, project, stripe_invoice["id"]))
    return _changed_mirror(db, customer, _upsert(db, Invoice, [invoice_row(project, customer, stripe_invoice, now or utcnow())]))


def apply_payment_method(
    db: Session, project: Project, customer: Customer, stripe_pm: StripeDict, *, now: datetime | None = None
) -> bool:
    """Upserts a card that is attached to this customer; a detached one leaves the mirror."""
    lock_customer(db, customer)
    if stripe_pm.get("type") != "card" or id_of(stripe_pm.get("customer")) != customer.stripe_customer_id:
        return _changed_mirror(db, customer, remove(db, PaymentMethod, project, stripe_pm["id"]))
    rows = [payment_method_row(project, customer, stripe_pm, now or utcnow())]
    return _changed_mirror(db, customer, _upsert(db, PaymentMethod, rows))


def remove(db: Session, model: type[SQLModel], project: Project, stripe_id: str) -> int:
    """Deletes one mirror row by its Stripe id; returns how many rows went (0 or 1)."""
    table = model.__table__
    result = db.execute(sa.delete(table).where(table.c.project_id == project.id, table.c.stripe_id == stripe_id))
    _expire_mirror_objects(db)
    return result.rowcount or 0


def forget(db: Session, project: Project, customer: Customer, model: type[SQLModel], stripe_id: str) -> bool:
    """Drop one of the customer's mirror rows (Stripe no longer has the object); True if it was there."""
    lock_customer(db, customer)
    table = model.__table__
    result = db.execute(
        sa.delete(table).where(
            table.c.project_id == project.id, table.c.customer_id == customer.id, table.c.stripe_id == stripe_id
        )
    )
    _expire_mirror_objects(db)
    return _changed_mirror(db, customer, result.rowcount or 0)


def _mirror_version(db: Session, customer: Customer) -> int:
    table = Customer.__table__
    return db.execute(sa.select(table.c.mirror_version).where(table.c.id == customer.id)).scalar_one()


def _lock_if_unchanged(db: Session, customer: Customer, version: int) -> bool:
    """Lock the customer row (as `lock_customer`) if its mirror version is still `version`.

    One UPDATE that changes nothing, so the check and the lock are one step on both
    databases: a PostgreSQL row lock, or SQLite's write lock (the first write of the
    transaction takes it), held until the commit.
    """
    table = Customer.__table__
    result = db.execute(
        sa.update(table)
        .where(table.c.id == customer.id, table.c.mirror_version == version)
        .values(mirror_version=table.c.mirror_version)
    )
    return result.rowcount == 1


def lock_customer(db: Session, customer: Customer) -> None:
    """Serialise mirror writers per customer (PostgreSQL row lock; a no-op on SQLite)."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(select(Customer.id).where(Customer.id == customer.id).with_for_update())


def bump_mirror_version(db: Session, customer: Customer) -> None:
    """Tell open portal pages of this customer that their data changed (atomic across workers)."""
    db.execute(
        sa.update(Customer.__table__)
        .where(Customer.__table__.c.id == customer.id)
        .values(mirror_version=Customer.__table__.c.mirror_version + 1)
    )
    db.expire(customer, ["mirror_version"])


def _changed_mirror(db: Session, customer: Customer, written: int) -> bool:
    if written:
        bump_mirror_version(db, customer)
    return bool(written)


def _apply_customer_fields(customer: Customer, stripe_customer: StripeDict) -> bool:
    if stripe_customer.get("deleted"):
        fields = {"default_payment_method_id": None}
    else:
        settings = stripe_customer.get("invoice_settings") or {}
        fields = {
            "email": _clip(stripe_customer.get("email"), 320),
            "name": _clip(stripe_customer.get("name"), 200),
            "default_payment_method_id": id_of(settings.get("default_payment_method")),
        }
    changed = False
    for name, value in fields.items():
        if getattr(customer, name) != value:
            setattr(customer, name, value)
            changed = True
    return changed


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
        "stripe_item_id": first.get("id"),
        "price_id": id_of(first.get("price")),
        **_scheduled_change(sub, first, _period(sub, items, "current_period_end")),
        "created": from_unix(sub["created"]),
        "stripe_updated_at": now,
        "synced_at": now,
    }


# A schedule in these states still has phases to apply; a released, canceled or completed
# one no longer changes anything.
_PENDING_SCHEDULE_STATUSES = ("not_started", "active")


def _scheduled_change(sub: StripeDict, first: StripeDict, period_end: int | None) -> dict[str, Any]:
    """The schedule columns: a phase starting at (or after) the current period's end that
    changes the first item's price or quantity (a plan change waiting for the period end)."""
    schedule = sub.get("schedule")
    fields: dict[str, Any] = {
        "schedule_id": id_of(schedule), "scheduled_price_id": None, "scheduled_quantity": None,
        "scheduled_change_at": None,
    }
    if not isinstance(schedule, Mapping) or schedule.get("status") not in _PENDING_SCHEDULE_STATUSES:
        return fields  # not expanded (then nothing known is waiting) or nothing left to apply
    phases = schedule.get("phases") or []
    upcoming = sorted(
        (phase for phase in phases if period_end and (phase.get("start_date") or 0) >= period_end),
        key=lambda phase: phase["start_date"],
    )
    phase_items = (upcoming[0].get("items") or []) if upcoming else []
    if not phase_items:
        return fields
    price_id, quantity = id_of(phase_items[0].get("price")), phase_items[0].get("quantity") or 1
    if (price_id, quantity) == (id_of(first.get("price")), first.get("quantity") or 1):
        return fields  # the next phase goes on as now
    fields.update(scheduled_price_id=price_id, scheduled_quantity=quantity,
                  scheduled_change_at=from_unix(upcoming[0]["start_date"]))
    return fields


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
        "description": _clip(_first_line_description(invoice), 500),
        "due_date": from_unix(invoice.get("due_date")),
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


def _first_line_description(invoice: StripeDict) -> str | None:
    """What the invoice is for: its first line item's description (Stripe lists the lines
    with the invoice, up to 10); the invoice's own memo when it has no lines."""
    lines = (invoice.get("lines") or {}).get("data") or []
    first = lines[0].get("description") if lines else None
    return first or invoice.get("description") or None


def _invoice_subscription(invoice: StripeDict) -> str | None:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    # `invoice.subscription` is where API versions before 2025-03-31 put it.
    return id_of(details.get("subscription")) or id_of(invoice.get("subscription"))


def _clip(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


# --- set-based writes ------------------------------------------------------------------


def _replace(db: Session, model: type[SQLModel], customer: Customer, rows: list[dict[str, Any]]) -> int:
    """Make the customer's rows equal to `rows`: upsert them, delete what Stripe no longer has."""
    table = model.__table__
    existing = set(db.exec(select(table.c.stripe_id).where(table.c.customer_id == customer.id)))
    gone = existing - {row["stripe_id"] for row in rows}
    deleted = 0
    for chunk in _chunks(sorted(gone)):
        result = db.execute(
            sa.delete(table).where(table.c.customer_id == customer.id, table.c.stripe_id.in_(chunk))
        )
        deleted += result.rowcount or 0
    return deleted + _upsert(db, model, rows)  # (expires cached rows, the deleted ones included)


def _upsert(db: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> int:
    """Insert or update the rows that differ from what the mirror holds; returns how many."""
    rows = _differing(db, model, rows)
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
    return len(rows)


def _differing(db: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows that are new or whose content differs from the stored row (bookkeeping aside)."""
    if not rows:
        return []
    table = model.__table__
    columns = [name for name in rows[0] if name not in _BOOKKEEPING]
    stored: dict[str, Mapping[str, Any]] = {}
    for chunk in _chunks(rows):
        query = sa.select(*(table.c[name] for name in columns)).where(
            table.c.project_id == chunk[0]["project_id"],
            table.c.stripe_id.in_([row["stripe_id"] for row in chunk]),
        )
        stored.update((record["stripe_id"], record) for record in db.execute(query).mappings())
    return [row for row in rows if not _same(stored.get(row["stripe_id"]), row, columns)]


def _same(stored: Mapping[str, Any] | None, row: Mapping[str, Any], columns: list[str]) -> bool:
    if stored is None:
        return False
    for name in columns:
        new, old = row[name], stored[name]
        if name == "product_name" and new == "":
            continue  # the upsert keeps the stored name (see above)
        if isinstance(new, datetime) and isinstance(old, datetime):
            new, old = new.astimezone(UTC), old.astimezone(UTC)
        if new != old:
            return False
    return True


def _expire_mirror_objects(db: Session) -> None:
    """Core statements bypass the ORM: drop cached mirror objects so later reads see the new rows."""
    for obj in list(db.identity_map.values()):
        if isinstance(obj, _MIRROR_MODELS):
            db.expire(obj)


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
