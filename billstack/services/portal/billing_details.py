"""Billing details (Stripe's `features.customer_update`): the customer's name, email, phone,
address and tax ids, edited in the portal when the project allows each field.

Same order as every portal write: the project allows the field (403 naming it), the values
are checked (400 naming the field as the API spells it), the connection is released, Stripe
is written with an idempotency key, then the mirror from Stripe's answer, then the audit.
Nothing changes locally when Stripe refuses or fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Any

from sqlmodel import Session

from billstack import stripe_gateway
from billstack.db import release_connection
from billstack.errors import BillStackError, api_param, forbidden, invalid
from billstack.models import TaxId
from billstack.services import audit
from billstack.services.portal.keys import action_key
from billstack.services.portal.rows import (
    allowed_updates,
    customer_details_view,
    ensure_synced,
    own_tax_id,
    tax_id_view,
)
from billstack.services.sessions import PortalContext
from billstack.services.sync import apply_customer, apply_tax_id, forget
from billstack.services.tenants import check_email
from billstack.services.views import TAX_ID_TYPES, CustomerDetails, TaxIdView

NAME_MAX = 256  # Stripe's limit on `name`
PHONE_MAX = 20  # Stripe's limit on `phone`
ADDRESS_LINE_MAX = 200  # what the mirror keeps of a line, city or state
POSTAL_CODE_MAX = 40
TAX_ID_VALUE_MAX = 100
_COUNTRY = re.compile(r"[A-Z]{2}")
# Stripe's param spelling (`address[postal_code]`) → the API's (`address.postalCode`).
_STRIPE_PARAM = re.compile(r"\[([a-z0-9_]+)\]")


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
    return customer_details_view(db, ctx.customer)


def update_customer_details(
    db: Session, ctx: PortalContext, update: DetailsUpdate, *, idempotency_key: str | None = None
) -> CustomerDetails:
    """Write the changed fields to Stripe, then the mirror. 403 for a field the project does not
    let customers edit; 400 naming the field (`email`, `address.country` …) for a bad value."""
    project, customer = ctx.project, ctx.customer
    sent = [f.name for f in fields(update) if getattr(update, f.name) is not None]
    audit.attempt(ctx, "customer.details_updated", stripe_object_id=customer.stripe_customer_id,
                  detail={"fields": sent})
    if not sent:
        raise invalid("Send at least one of name, email, phone or address.", code="parameter_missing")
    for name in sent:
        _require_editable(ctx, name)
    params = _stripe_params(update)
    key = action_key(ctx, "cus-details", customer.stripe_customer_id, idempotency_key)
    release_connection(db)
    try:
        updated = stripe_gateway.update_customer_details(project, customer.stripe_customer_id, params, key=key)
    except BillStackError as exc:
        raise _field_error(exc) from exc
    apply_customer(db, customer, updated)
    audit.record_portal(db, ctx, "customer.details_updated", stripe_object_id=customer.stripe_customer_id,
                        detail={"fields": sent})
    return customer_details_view(db, customer)


def add_tax_id(
    db: Session, ctx: PortalContext, tax_type: str, value: str, *, idempotency_key: str | None = None
) -> TaxIdView:
    """Stripe checks the value's format (400 `tax_id_invalid`, param `value`). 403 when tax ids are off."""
    project, customer = ctx.project, ctx.customer
    # No txi_… before Stripe made it: a failure names the customer.
    audit.attempt(ctx, "customer.tax_id_added", stripe_object_id=customer.stripe_customer_id,
                  detail={"type": tax_type if tax_type in TAX_ID_TYPES else None})
    _require_editable(ctx, "tax_id")
    if tax_type not in TAX_ID_TYPES:
        raise invalid(f"type must be one of {', '.join(TAX_ID_TYPES)}.", param="type")
    value = (value or "").strip()
    if not value or len(value) > TAX_ID_VALUE_MAX:
        raise invalid(f"Enter a tax ID of 1 to {TAX_ID_VALUE_MAX} characters.", param="value")
    key = action_key(ctx, "tax-id-add", customer.stripe_customer_id, idempotency_key)
    release_connection(db)
    try:
        created = stripe_gateway.create_tax_id(project, customer.stripe_customer_id, tax_type=tax_type,
                                               value=value, key=key)
    except BillStackError as exc:
        if exc.code == "tax_id_invalid":
            raise invalid(f"This is not a valid tax ID of the type chosen ({tax_type}). Check the number, "
                          "including its country prefix.", param="value", code="tax_id_invalid") from exc
        raise
    apply_tax_id(db, project, customer, created)
    audit.record_portal(db, ctx, "customer.tax_id_added", stripe_object_id=created["id"], detail={"type": tax_type})
    return tax_id_view(own_tax_id(db, customer, created["id"]))


def remove_tax_id(db: Session, ctx: PortalContext, tax_id: str) -> None:
    """404 for a tax id that is not the customer's. 403 when tax ids are off."""
    project, customer = ctx.project, ctx.customer
    audit.attempt(ctx, "customer.tax_id_removed", stripe_object_id=tax_id)
    _require_editable(ctx, "tax_id")
    ensure_synced(db, ctx)
    own_tax_id(db, customer, tax_id)
    release_connection(db)
    try:
        stripe_gateway.delete_tax_id(project, customer.stripe_customer_id, tax_id)
    except BillStackError as exc:
        if exc.status != 404:  # already gone from Stripe: what was asked is done
            raise
    forget(db, project, customer, TaxId, tax_id)
    audit.record_portal(db, ctx, "customer.tax_id_removed", stripe_object_id=tax_id)


# --- checks ------------------------------------------------------------------------------


def _require_editable(ctx: PortalContext, field: str) -> None:
    """403 naming the field (`param`: the request field; none for tax ids, a route of their own)."""
    if field not in allowed_updates(ctx.project):
        what = "Tax IDs" if field == "tax_id" else f"The {field}"
        error = forbidden(f"{what} cannot be changed in this portal.", code="feature_disabled")
        raise replace(error, param=None if field == "tax_id" else field)


def _stripe_params(update: DetailsUpdate) -> dict[str, Any]:
    """The checked update in Stripe's shape ("" clears a field in Stripe)."""
    params: dict[str, Any] = {}
    if update.name is not None:
        params["name"] = _text(update.name, "name", NAME_MAX, required=True)
    if update.email is not None:
        params["email"] = check_email(update.email.strip(), "email")
    if update.phone is not None:
        params["phone"] = _text(update.phone, "phone", PHONE_MAX)
    if update.address is not None:
        params["address"] = _address_params(update.address)
    return params


def _address_params(address: AddressUpdate) -> dict[str, str]:
    limits = {"postal_code": POSTAL_CODE_MAX}
    params = {
        f.name: _text(getattr(address, f.name) or "", f"address.{api_param(f.name)}",
                      limits.get(f.name, ADDRESS_LINE_MAX))
        for f in fields(address) if f.name != "country"
    }
    params["country"] = _country(address.country or "")
    return params


def _country(value: str) -> str:
    """A two-letter code, upper-cased ("" clears it); whether it exists is Stripe's to say."""
    country = value.strip().upper() if isinstance(value, str) else None
    if country is None or (country and not _COUNTRY.fullmatch(country)):
        raise invalid("Choose a country (a two-letter code such as DE or US).", param="address.country")
    return country


def _text(value: str, param: str, limit: int, *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise invalid(f"{param} must be a string.", param=param)
    text = value.strip()
    if required and not text:
        raise invalid(f"{param} cannot be empty.", param=param)
    if len(text) > limit:
        raise invalid(f"{param} is longer than {limit} characters.", param=param)
    if not text.isprintable():
        raise invalid(f"{param} contains characters that cannot be printed.", param=param)
    return text


def _field_error(exc: BillStackError) -> BillStackError:
    """Stripe refusing one of the fields (an unknown country, an email it does not accept): the
    API's param name and a message the customer can act on. Anything else as it came."""
    if exc.status != 400 or not exc.param:
        return exc
    param = ".".join(api_param(part) for part in _STRIPE_PARAM.sub(r".\1", exc.param).split("."))
    if param == "address.country":
        return invalid("This country is not known. Choose a country from the list.", param=param, code=exc.code)
    return invalid(f"{param} was not accepted: {exc.message}", param=param, code=exc.code)
