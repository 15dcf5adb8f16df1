"""Billing details (Stripe's `features.customer_update`): the customer's name, email, phone,
address and tax ids, edited in the portal when the project allows each field.

CONTRACT (issue 16): the signatures below are what the REST routes and the Reflex state
call. Stripe is written first, then the mirror from Stripe's answer; nothing changes
locally when Stripe fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from billstack.services.sessions import PortalContext
from billstack.services.views import CustomerDetails, TaxIdView


@dataclass(frozen=True)
class AddressUpdate:
    """A whole postal address; empty fields are cleared. `country`: ISO 3166-1 alpha-2."""

    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class DetailsUpdate:
    """The fields a customer changes; None leaves a field as it is, "" clears it (not name or email)."""

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: AddressUpdate | None = None


def customer_details(db: Session, ctx: PortalContext) -> CustomerDetails:
    """The customer's billing details from the mirror."""
    raise NotImplementedError


def update_customer_details(db: Session, ctx: PortalContext, update: DetailsUpdate) -> CustomerDetails:
    """Write the changed fields to Stripe, then the mirror. 403 for a field the project does not
    let customers edit; 400 naming the field (`email`, `address.country` …) for a bad value."""
    raise NotImplementedError


def add_tax_id(db: Session, ctx: PortalContext, tax_type: str, value: str) -> TaxIdView:
    """Stripe checks the value's format (400 `tax_id_invalid`, param `value`). 403 when tax ids are off."""
    raise NotImplementedError


def remove_tax_id(db: Session, ctx: PortalContext, tax_id: str) -> None:
    """404 for a tax id that is not the customer's. 403 when tax ids are off."""
    raise NotImplementedError
