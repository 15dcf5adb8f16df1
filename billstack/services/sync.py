"""The mirror: one customer's details, tax ids, subscriptions, invoices and cards, copied from Stripe.

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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, select

from billstack import stripe_gateway
from billstack.clock import from_unix, utcnow
from billstack.db import release_connection
from billstack.errors import BillStackError
from billstack.models import Customer, Invoice, PaymentMethod, Project, Subscription, TaxId
from billstack.services import live
from billstack.services.mirror_rows import (  # re-exported: webhooks and portal services use them from here
    NO_NEXT_INVOICE,
    NextInvoice,
    StripeDict,
    customer_fields,
    id_of,
    invoice_row,
    payment_method_row,
    subscription_row,
    tax_id_row,
    will_bill_again,
)

log = logging.getLogger("billstack.sync")

# Full reads of Stripe per sync while other writers keep changing the customer's mirror.
SYNC_ATTEMPTS = 3

# Rows per INSERT: keeps each statement well below SQLite's bound-parameter limit.
_CHUNK = 200
_MIRROR_MODELS = (Subscription, Invoice, PaymentMethod, TaxId)
# Bookkeeping columns: when we wrote a row, not what Stripe says; never a reason to write.
_BOOKKEEPING = frozenset({"synced_at", "stripe_updated_at"})


@dataclass(frozen=True)
class CustomerState:
    """Everything the portal shows for one customer, as Stripe has it now."""

    customer: StripeDict
    subscriptions: list[StripeDict]
    invoices: list[StripeDict]
    payment_methods: list[StripeDict]
    tax_ids: list[StripeDict] = field(default_factory=list)
    # Keyed by subscription id; a subscription missing here keeps its stored next invoice.
    next_invoices: dict[str, NextInvoice] = field(default_factory=dict)


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
    """Stripe reads only (no database): the customer, their subscriptions (with each one's
    next invoice), invoices, cards and tax ids."""
    if stripe_customer is None:
        stripe_customer = stripe_gateway.retrieve_customer_data(project, stripe_customer_id)
    if stripe_customer.get("deleted"):
        return CustomerState(stripe_customer, [], [], [])
    subscriptions = stripe_gateway.list_subscriptions(project, stripe_customer_id)
    return CustomerState(
        stripe_customer,
        subscriptions,
        stripe_gateway.list_invoices(project, stripe_customer_id),
        stripe_gateway.list_card_payment_methods(project, stripe_customer_id),
        stripe_gateway.list_tax_ids(project, stripe_customer_id),
        {sub["id"]: fetch_next_invoice(project, sub) for sub in subscriptions},
    )


def fetch_next_invoice(project: Project, stripe_sub: StripeDict) -> NextInvoice:
    """A Stripe read only: the renewal invoice of a subscription that will bill again.

    The date is when Stripe will try to collect it, which for a renewal is the end of the
    current period (the preview's `period_end`; `next_payment_attempt` when Stripe gives one).
    """
    if not will_bill_again(stripe_sub):
        return NO_NEXT_INVOICE
    try:
        preview = stripe_gateway.preview_next_invoice(project, id_of(stripe_sub.get("customer")) or "", stripe_sub["id"])
    except BillStackError as exc:
        if exc.status >= 500:  # Stripe unavailable: the sync fails as a whole, as for any read
            raise
        return NO_NEXT_INVOICE  # no upcoming invoice (Stripe answers 404 or refuses the preview)
    date = preview.get("next_payment_attempt") or preview.get("period_end")
    return NextInvoice(preview.get("amount_due"), from_unix(date))


def write_customer_state(
    db: Session, project: Project, customer: Customer, state: CustomerState, *, now: datetime | None = None
) -> int:
    """Make the customer's mirror equal to `state`; returns the number of rows written."""
    now = now or utcnow()
    lock_customer(db, customer)
    written = int(_apply_customer_fields(customer, state.customer))
    subscription_rows = [
        subscription_row(project, customer, s, now, next_invoice=state.next_invoices.get(s["id"]))
        for s in state.subscriptions
    ]
    written += _replace(db, Subscription, customer, subscription_rows)
    written += _replace(db, Invoice, customer, [invoice_row(project, customer, i, now) for i in state.invoices])
    written += _replace(
        db, PaymentMethod, customer, [payment_method_row(project, customer, m, now) for m in state.payment_methods]
    )
    written += _replace(db, TaxId, customer, [tax_id_row(project, customer, t, now) for t in state.tax_ids])
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


def replace_tax_ids(
    db: Session, project: Project, customer: Customer, tax_ids: list[StripeDict], *, now: datetime | None = None
) -> int:
    """The customer's tax ids, as Stripe lists them now (webhooks about tax ids)."""
    now = now or utcnow()
    lock_customer(db, customer)
    written = _replace(db, TaxId, customer, [tax_id_row(project, customer, t, now) for t in tax_ids])
    _changed_mirror(db, customer, written)
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
    db: Session, project: Project, customer: Customer, stripe_sub: StripeDict, *, now: datetime | None = None,
    next_invoice: NextInvoice | None = None,
) -> bool:
    """Upserts the subscription with its next invoice (read from Stripe unless given).

    The preview is read before the customer is locked, so a caller that released its
    connection before its Stripe write holds none while Stripe answers."""
    if next_invoice is None:
        next_invoice = fetch_next_invoice(project, stripe_sub)
    lock_customer(db, customer)
    row = subscription_row(project, customer, stripe_sub, now or utcnow(), next_invoice=next_invoice)
    return _changed_mirror(db, customer, _upsert(db, Subscription, [row]))


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


def apply_tax_id(
    db: Session, project: Project, customer: Customer, stripe_tax_id: StripeDict, *, now: datetime | None = None
) -> bool:
    """Upserts one tax id of this customer (e.g. just created in Stripe); a deleted one leaves."""
    lock_customer(db, customer)
    if stripe_tax_id.get("deleted") or id_of(stripe_tax_id.get("customer")) != customer.stripe_customer_id:
        return forget(db, project, customer, TaxId, stripe_tax_id["id"])
    return _changed_mirror(db, customer, _upsert(db, TaxId, [tax_id_row(project, customer, stripe_tax_id, now or utcnow())]))


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
    live.publish_after_commit(db, customer.id)  # pages on every host (Redis) hear of it at the commit


def _apply_customer_fields(customer: Customer, stripe_customer: StripeDict) -> bool:
    changed = False
    for name, value in customer_fields(stripe_customer).items():
        if getattr(customer, name) != value:
            setattr(customer, name, value)
            changed = True
    return changed


def _changed_mirror(db: Session, customer: Customer, written: int) -> bool:
    if written:
        bump_mirror_version(db, customer)
    return bool(written)


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
