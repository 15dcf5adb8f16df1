"""BillStack customers (`pc_…`): a project's handle on one Stripe customer."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from billstack import stripe_gateway
from billstack.clock import utcnow
from billstack.errors import BillStackError, invalid, not_found
from billstack.ids import new_id
from billstack.models import Customer
from billstack.services import live
from billstack.services.tenants import check_email, get_project, record_audit


def create_customer(
    db: Session, *, project_id: str, email: str, name: str | None = None, allow_duplicate_email: bool = False
) -> Customer:
    """Creates the Stripe customer first, then the BillStack row that points at it.

    An email that already has a customer in the project is refused (409) unless
    `allow_duplicate_email`: a second Stripe customer for one person splits their
    subscriptions and invoices over two portals."""
    project = get_project(db, project_id)
    email = check_email((email or "").strip(), "email")
    name = (name or "").strip() or None
    if name is not None and len(name) > 200:
        raise invalid("name is longer than 200 characters.", param="name")
    same_email = customers_with_email(db, project_id=project.id, email=email)
    if same_email and not allow_duplicate_email:
        raise BillStackError(
            f"{email} already has a customer in this project ({', '.join(c.id for c in same_email)}); "
            "nothing was created. Use that customer, or set allowDuplicateEmail to create a second "
            "Stripe customer anyway.",
            code="resource_already_exists",
            param="allowDuplicateEmail",
            status=409,
        )
    customer_id = new_id("pc")
    # Stripe first: if it fails nothing is written here; the caller's transaction rolls back.
    stripe_customer = stripe_gateway.create_customer(project, email=email, name=name, key=customer_id)
    customer = Customer(
        id=customer_id, project_id=project.id, stripe_customer_id=stripe_customer.id, email=email, name=name
    )
    db.add(customer)
    db.flush()
    record_audit(db, "customer.created", project_id=project.id, customer_id=customer.id)
    return customer


def customers_with_email(db: Session, *, project_id: str, email: str) -> list[Customer]:
    """The project's customers (not removed) with this email, in any letter case."""
    email = (email or "").strip().lower()
    query = select(Customer).where(
        Customer.project_id == project_id, Customer.removed_at.is_(None), sa.func.lower(Customer.email) == email
    )
    return list(db.exec(query.order_by(Customer.created_at, Customer.id)))


def link_customer(db: Session, *, project_id: str, stripe_customer_id: str) -> Customer:
    """Adopts an existing Stripe customer; each may be linked once per project.

    Linking a customer that was removed from the project brings back the same `pc_…`
    id (its old portal sessions were revoked on removal and stay revoked).
    """
    project = get_project(db, project_id)
    stripe_customer_id = (stripe_customer_id or "").strip()
    if not stripe_customer_id.startswith("cus_") or len(stripe_customer_id) > 255:
        raise invalid("Stripe customer ids start with cus_.", param="stripeCustomerId")
    existing = db.exec(
        select(Customer).where(Customer.project_id == project_id, Customer.stripe_customer_id == stripe_customer_id)
    ).first()
    if existing is not None and existing.removed_at is None:
        raise BillStackError(
            f"{stripe_customer_id} is already linked to {existing.id} in this project.",
            code="resource_already_exists",
            param="stripeCustomerId",
            status=409,
        )
    stripe_customer = stripe_gateway.retrieve_customer(project, stripe_customer_id)
    if getattr(stripe_customer, "deleted", False):
        raise BillStackError(
            f"{stripe_customer_id} was deleted in Stripe.", code="resource_missing", param="stripeCustomerId", status=404
        )
    if existing is not None:
        existing.removed_at = None
        existing.email = getattr(stripe_customer, "email", None)
        existing.name = getattr(stripe_customer, "name", None)
        db.add(existing)
        db.flush()
        record_audit(db, "customer.relinked", project_id=project_id, customer_id=existing.id)
        return existing
    customer = Customer(
        id=new_id("pc"),
        project_id=project_id,
        stripe_customer_id=stripe_customer.id,
        email=getattr(stripe_customer, "email", None),
        name=getattr(stripe_customer, "name", None),
    )
    db.add(customer)
    try:
        db.flush()
    except sa.exc.IntegrityError as exc:  # a concurrent link won the race
        raise BillStackError(
            f"{stripe_customer_id} is already linked in this project.",
            code="resource_already_exists",
            param="stripeCustomerId",
            status=409,
        ) from exc
    record_audit(db, "customer.linked", project_id=project_id, customer_id=customer.id)
    return customer


def get_customer(db: Session, *, project_id: str, customer_id: str) -> Customer:
    customer = db.get(Customer, customer_id)
    if customer is None or customer.project_id != project_id or customer.removed_at is not None:
        raise not_found(f"No such customer: {customer_id!r}.", param="customerId")
    return customer


def list_customers(db: Session, project_id: str) -> list[Customer]:
    get_project(db, project_id)
    query = select(Customer).where(Customer.project_id == project_id, Customer.removed_at.is_(None))
    return list(db.exec(query.order_by(Customer.created_at)))


def remove_customer(db: Session, *, project_id: str, customer_id: str) -> Customer:
    """Detaches the customer from the project; Stripe is untouched, portal sessions die."""
    customer = get_customer(db, project_id=project_id, customer_id=customer_id)
    customer.removed_at = utcnow()
    # Revokes every session made until now, for good: a later re-link does not revive them.
    # Not rounded to the second like created_at, so that it can only err towards revoked.
    customer.sessions_revoked_at = datetime.now(UTC)
    db.add(customer)
    db.flush()
    record_audit(db, "customer.removed", project_id=project_id, customer_id=customer.id)
    live.bump_after_commit(db, customer.id)  # open pages re-validate and show the revoked page
    return customer
