"""A session request that names its customer by something else than a `pc_…` id in a named
project: by `externalId`, by `stripeCustomerId` (`cus_…`, linked on the fly), or with a key
that names its own project (the Stripe-compatible endpoint).

`resolve` turns it into the hot path's shape (a `customer_id` in a named project) in one
unit of work of its own, before the creation's: the `customerId` path never comes here, so
it pays nothing for the other keys. A `cus_…` the project has not linked yet is linked
(customers.create_or_link_customer) and its mirror loaded (sync.sync_customer) before the
session exists, so the first page view is complete.
"""

from __future__ import annotations

import dataclasses

from sqlmodel import Session

from billstack.db import session_scope
from billstack.errors import BillStackError, not_found, rate_limited, unauthorized
from billstack.models import ApiKey, Customer, Project
from billstack.secrets_box import unseal
from billstack.services import customers, ratelimit, sync
from billstack.services.sessions.api_keys import authenticate_api_key, authenticate_project_key, rate_limit_key
from billstack.services.sessions.request import SessionRequest, check_customer_keys, shown
from billstack.services.tenants import get_project

LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")


@dataclasses.dataclass(frozen=True)
class Resolved:
    """The request in the hot path's shape, and what the Stripe-shaped answer needs of it."""

    request: SessionRequest
    stripe_customer_id: str
    livemode: bool


def resolve(request: SessionRequest) -> Resolved:
    """Exactly one customer key (400 otherwise), the key checked (401/403), the customer found
    (404 naming the key sent), linked and mirrored if it is a `cus_…` new to the project."""
    check_customer_keys(request)
    with session_scope() as db:
        project = _project(db, request)
        customer = _customer(db, project, request)
        stripe_customer_id = customer.stripe_customer_id
        livemode = unseal(project.stripe_secret_key_sealed).startswith(LIVE_KEY_PREFIXES)
        resolved = dataclasses.replace(request, team_id=project.team_id, project_id=project.id,
                                       customer_id=customer.id, external_id=None, stripe_customer_id=None)
    return Resolved(resolved, stripe_customer_id, livemode)


def _project(db: Session, request: SessionRequest) -> Project:
    api_key = request.api_key
    if request.project_id is None:  # the key names the project
        if not isinstance(api_key, str):
            raise unauthorized("Invalid API key provided.", code="invalid_api_key")
        return _not_limited(*authenticate_project_key(db, api_key))
    if isinstance(api_key, str):
        return _not_limited(*authenticate_api_key(db, api_key, team_id=request.team_id or "",
                                                  project_id=request.project_id))
    project = get_project(db, request.project_id)
    if isinstance(api_key, ApiKey) and api_key.project_id != project.id:
        raise not_found(f"No such project: {shown(request.project_id)}.", param="projectId")
    return project


def _not_limited(api_key: ApiKey, project: Project) -> Project:
    """A key out of session creations is refused before Stripe is asked to link anyone (the
    token itself is spent by the creation, as on the hot path)."""
    retry_after = ratelimit.session_creation.blocked(rate_limit_key(api_key))
    if retry_after:
        raise rate_limited(retry_after)
    return project


def _customer(db: Session, project: Project, request: SessionRequest) -> Customer:
    if request.customer_id is not None:
        found = customers.find_customer(db, project_id=project.id, customer_id=request.customer_id)
        if found is None:
            raise not_found(f"No such customer: {shown(request.customer_id)}.", param="customerId")
        return found
    if request.external_id is not None:
        found = customers.find_customer(db, project_id=project.id, external_id=request.external_id)
        if found is None:
            raise not_found(f"No customer with externalId {shown(request.external_id)}.", param="externalId")
        return found
    stripe_customer_id = request.stripe_customer_id or ""
    found = customers.find_customer(db, project_id=project.id, stripe_customer_id=stripe_customer_id)
    if found is not None:
        return found
    try:
        found, _created = customers.create_or_link_customer(db, project_id=project.id,
                                                            stripe_customer_id=stripe_customer_id)
    except BillStackError as error:
        if error.code == "resource_missing":
            raise not_found(f"No such customer in Stripe: {shown(stripe_customer_id)}.",
                            param="stripeCustomerId") from error
        raise
    if found.synced_at is None:  # linked just now: load its mirror, so the first page view is complete
        sync.sync_customer(db, project, found)  # commits the link first; the mirror in its own transaction
    return found
