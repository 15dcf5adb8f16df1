"""BillStack customers (`pc_…`): a project's handle on one Stripe customer."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from billstack import stripe_gateway
from billstack.clock import utcnow
from billstack.errors import BillStackError, invalid, not_found, rate_limited
from billstack.ids import new_id
from billstack.models import Customer
from billstack.services import live, ratelimit
from billstack.services.tenants import check_email, get_project, record_audit

EXTERNAL_ID_MAX = 200
LIST_LIMIT_DEFAULT = 10
LIST_LIMIT_MAX = 100


def create_customer(
    db: Session,
    *,
    project_id: str,
    email: str,
    name: str | None = None,
    allow_duplicate_email: bool = False,
    external_id: str | None = None,
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
        id=customer_id, project_id=project.id, stripe_customer_id=stripe_customer.id, email=email, name=name,
        external_id=external_id,
    )
    db.add(customer)
    _flush_unique(db, external_id)
    record_audit(db, "customer.created", project_id=project.id, customer_id=customer.id)
    return customer


def customers_with_email(db: Session, *, project_id: str, email: str) -> list[Customer]:
    """The project's customers (not removed) with this email, in any letter case."""
    email = (email or "").strip().lower()
    query = select(Customer).where(
        Customer.project_id == project_id, Customer.removed_at.is_(None), sa.func.lower(Customer.email) == email
    )
    return list(db.exec(query.order_by(Customer.created_at, Customer.id)))


def link_customer(
    db: Session, *, project_id: str, stripe_customer_id: str, external_id: str | None = None
) -> Customer:
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
    try:
        stripe_customer = stripe_gateway.retrieve_customer(project, stripe_customer_id)
    except BillStackError as exc:
        if exc.code == "resource_missing":  # Stripe names its own path param; ours is this one
            raise not_found(f"No such Stripe customer: {stripe_customer_id!r}.", param="stripeCustomerId") from exc
        raise
    if getattr(stripe_customer, "deleted", False):
        raise BillStackError(
            f"{stripe_customer_id} was deleted in Stripe.", code="resource_missing", param="stripeCustomerId", status=404
        )
    if existing is not None:
        existing.removed_at = None
        existing.email = getattr(stripe_customer, "email", None)
        existing.name = getattr(stripe_customer, "name", None)
        existing.external_id = external_id
        db.add(existing)
        _flush_unique(db, external_id)
        record_audit(db, "customer.relinked", project_id=project_id, customer_id=existing.id)
        return existing
    customer = Customer(
        id=new_id("pc"),
        project_id=project_id,
        stripe_customer_id=stripe_customer.id,
        email=getattr(stripe_customer, "email", None),
        name=getattr(stripe_customer, "name", None),
        external_id=external_id,
    )
    db.add(customer)
    try:
        db.flush()
    except sa.exc.IntegrityError as exc:  # a concurrent link (or use of the external id) won the race
        raise BillStackError(
            f"{stripe_customer_id} (or externalId {external_id!r}) is already linked in this project; retry to get it."
            if external_id else f"{stripe_customer_id} is already linked in this project.",
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
    customer.external_id = None  # the SaaS may give its id to another customer now
    # Revokes every session made until now, for good: a later re-link does not revive them.
    # Not rounded to the second like created_at, so that it can only err towards revoked.
    customer.sessions_revoked_at = datetime.now(UTC)
    db.add(customer)
    db.flush()
    record_audit(db, "customer.removed", project_id=project_id, customer_id=customer.id)
    live.bump_after_commit(db, customer.id)  # open pages re-validate and show the revoked page
    return customer


# --- the customers API (and session creation by externalId / stripeCustomerId) ------------


def check_external_id(value: str | None) -> str | None:
    """The SaaS's own id: 1 to 200 printable characters, without surrounding spaces."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > EXTERNAL_ID_MAX or not value.isprintable() \
            or value != value.strip():
        raise invalid(f"externalId must be 1 to {EXTERNAL_ID_MAX} printable characters without leading or "
                      "trailing spaces.", param="externalId")
    return value


def _conflict(message: str, param: str) -> BillStackError:
    return BillStackError(message, code="resource_already_exists", param=param, status=409)


def _flush_unique(db: Session, external_id: str | None) -> None:
    """Flush; the unique index on (project, externalId) lost to a concurrent request → 409."""
    try:
        db.flush()
    except sa.exc.IntegrityError as exc:
        raise _conflict(f"externalId {external_id!r} was just given to another customer of this project; "
                        "retry to get that customer.", "externalId") from exc


def find_customer(
    db: Session,
    *,
    project_id: str,
    customer_id: str | None = None,
    external_id: str | None = None,
    stripe_customer_id: str | None = None,
) -> Customer | None:
    """The project's customer (not removed) by exactly one of its three keys, or None."""
    keys = [k for k in (customer_id, external_id, stripe_customer_id) if k is not None]
    if len(keys) != 1:
        raise ValueError("find_customer takes exactly one of customer_id, external_id, stripe_customer_id")
    if customer_id is not None:
        customer = db.get(Customer, customer_id)
        ok = customer is not None and customer.project_id == project_id and customer.removed_at is None
        return customer if ok else None
    column = Customer.external_id if external_id is not None else Customer.stripe_customer_id
    query = select(Customer).where(Customer.project_id == project_id, column == keys[0],
                                   Customer.removed_at.is_(None))
    return db.exec(query.order_by(Customer.created_at, Customer.id)).first()


def create_or_link_customer(
    db: Session,
    *,
    project_id: str,
    email: str | None = None,
    name: str | None = None,
    external_id: str | None = None,
    stripe_customer_id: str | None = None,
    allow_duplicate_email: bool = False,
) -> tuple[Customer, bool]:
    """Creates (`email`, `name`?) or links (`stripeCustomerId`) a customer; True when it is new.

    Idempotent, so a retried sign-up is safe: a customer that already has this `external_id`
    (with the same email) or this `stripe_customer_id` is returned as it is, and nothing is
    created in Stripe. The same `external_id` on another email or Stripe customer is a 409.
    A `cus_…` that Stripe does not know is a 404 naming `stripeCustomerId`.
    """
    external_id = check_external_id(external_id)
    if stripe_customer_id is not None:
        for field, value in (("email", email), ("name", name)):
            if value is not None:
                raise invalid(f"Send either stripeCustomerId (its {field} comes from Stripe) or {field}, not both.",
                              param=field)
        return _link_once(db, project_id=project_id, stripe_customer_id=stripe_customer_id.strip(),
                          external_id=external_id)
    if email is None:
        raise invalid("Missing required param: email (or stripeCustomerId, to link an existing Stripe customer).",
                      param="email", code="parameter_missing")
    email = check_email(email.strip(), "email")
    if external_id is not None:
        existing = find_customer(db, project_id=project_id, external_id=external_id)
        if existing is not None:
            if (existing.email or "").lower() != email.lower():
                raise _conflict(f"externalId {external_id!r} belongs to {existing.id}, whose email is not {email}; "
                                "nothing was created.", "externalId")
            return existing, False
    customer = create_customer(db, project_id=project_id, email=email, name=name,
                               allow_duplicate_email=allow_duplicate_email, external_id=external_id)
    return customer, True


def _link_once(
    db: Session, *, project_id: str, stripe_customer_id: str, external_id: str | None
) -> tuple[Customer, bool]:
    existing = find_customer(db, project_id=project_id, stripe_customer_id=stripe_customer_id) \
        if stripe_customer_id else None
    if external_id is not None:
        holder = find_customer(db, project_id=project_id, external_id=external_id)
        if holder is not None and (existing is None or holder.id != existing.id):
            raise _conflict(f"externalId {external_id!r} belongs to {holder.id} (Stripe customer "
                            f"{holder.stripe_customer_id}); nothing was linked.", "externalId")
    if existing is None:
        return link_customer(db, project_id=project_id, stripe_customer_id=stripe_customer_id,
                             external_id=external_id), True
    if external_id is not None and existing.external_id != external_id:
        if existing.external_id is not None:
            raise _conflict(f"{stripe_customer_id} is linked as {existing.id} with externalId "
                            f"{existing.external_id!r}; change it with PATCH.", "externalId")
        _store_external_id(db, existing, external_id)
    return existing, False


def _store_external_id(db: Session, customer: Customer, external_id: str | None) -> None:
    customer.external_id = external_id
    db.add(customer)
    _flush_unique(db, external_id)
    record_audit(db, "customer.updated", project_id=customer.project_id, customer_id=customer.id,
                 fields=["externalId"])


def set_external_id(db: Session, *, project_id: str, customer_id: str, external_id: str | None) -> Customer:
    """Gives the customer the SaaS's id (None clears it); one held by another customer → 409."""
    customer = get_customer(db, project_id=project_id, customer_id=customer_id)
    external_id = check_external_id(external_id)
    if external_id == customer.external_id:
        return customer
    if external_id is not None:
        holder = find_customer(db, project_id=project_id, external_id=external_id)
        if holder is not None:
            raise _conflict(f"externalId {external_id!r} belongs to {holder.id}.", "externalId")
    _store_external_id(db, customer, external_id)
    return customer


def list_customers_page(
    db: Session,
    *,
    project_id: str,
    external_id: str | None = None,
    stripe_customer_id: str | None = None,
    email: str | None = None,
    limit: int = LIST_LIMIT_DEFAULT,
    starting_after: str | None = None,
) -> tuple[list[Customer], bool]:
    """One page of the project's customers (newest first, as Stripe lists), filtered by any
    of the three; and whether more follow. `starting_after` is the last id of the page before."""
    if not 1 <= limit <= LIST_LIMIT_MAX:
        raise invalid(f"limit must be between 1 and {LIST_LIMIT_MAX}.", param="limit")
    query = select(Customer).where(Customer.project_id == project_id, Customer.removed_at.is_(None))
    if external_id is not None:
        query = query.where(Customer.external_id == external_id)
    if stripe_customer_id is not None:
        query = query.where(Customer.stripe_customer_id == stripe_customer_id)
    if email is not None:
        query = query.where(sa.func.lower(Customer.email) == email.strip().lower())
    if starting_after is not None:
        cursor = db.get(Customer, starting_after)  # a removed one still marks its place
        if cursor is None or cursor.project_id != project_id:
            raise invalid(f"No such customer: {starting_after!r}.", param="startingAfter")
        query = query.where(sa.or_(
            Customer.created_at < cursor.created_at,
            sa.and_(Customer.created_at == cursor.created_at, Customer.id < cursor.id),
        ))
    rows = list(db.exec(query.order_by(Customer.created_at.desc(), Customer.id.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


def count_api_call(rate_key: str | None) -> None:
    """A customers API call spends one from its key's budget (`api_keys.rate_limit_key`), the
    one session creation spends from (BILLSTACK_RATE_LIMIT_SESSIONS_PER_MINUTE): 429 when
    it is used up."""
    if rate_key is not None:
        retry_after = ratelimit.session_creation.hit(rate_key)
        if retry_after:
            raise rate_limited(retry_after)
