"""Payment methods as the other operations use them: create a card, resolve an id, verify a
card (the $0 check on save), charge it, attach to / detach from a customer.

Stripe's test ids (`pm_card_visa`, …) are templates: using one creates a fresh `pm_…`
copy, as Stripe test mode does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from stripe_emulator import cards
from stripe_emulator.context import Ctx, changed
from stripe_emulator.errors import StripeError, invalid
from stripe_emulator.ids import new_id
from stripe_emulator.render import copy_json

_ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")


def merge_billing_details(
    raw: dict[str, Any] | None, current: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`billing_details` as given, over `current` (or the empty default): unknown keys are a 400."""
    out = (
        copy_json(current)
        if current
        else {
            "address": dict.fromkeys(_ADDRESS_KEYS),
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        }
    )
    for key, value in (raw or {}).items():
        if key == "address":
            if not isinstance(value, dict):
                raise invalid("billing_details[address]", "Invalid hash")
            out["address"] = {k: (value.get(k) or None) for k in _ADDRESS_KEYS}
        elif key in ("email", "name", "phone", "tax_id"):
            out[key] = value or None
        else:
            raise invalid(
                f"billing_details[{key}]",
                f"Received unknown parameter: billing_details[{key}]",
                code="parameter_unknown",
            )
    return out


def new_card_pm(
    ctx: Ctx,
    number: str,
    exp_month: int,
    exp_year: int,
    *,
    billing_details: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
    cvc_provided: bool = True,
) -> dict[str, Any]:
    card = cards.lookup(number)
    pm = {
        "id": new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": merge_billing_details(billing_details),
        "card": {
            "brand": card.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "unchecked" if cvc_provided else None,
            },
            "country": card.country,
            "display_brand": card.brand.replace("amex", "american_express"),
            "exp_month": exp_month,
            "exp_year": exp_year,
            "fingerprint": cards.fingerprint(ctx.account.key, number),
            "funding": card.funding,
            "generated_from": None,
            "last4": number[-4:],
            "networks": {"available": [card.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": ctx.now(),
        "customer": None,
        "customer_account": None,
        "livemode": False,
        "metadata": metadata or {},
        "type": "card",
        "_number": number,
    }
    return ctx.account.add(pm)


def today(ctx: Ctx) -> dt.datetime:
    return dt.datetime.fromtimestamp(ctx.now(), dt.UTC)


def card_from_template(ctx: Ctx, number: str) -> dict[str, Any]:
    now = today(ctx)
    return new_card_pm(ctx, number, now.month, now.year + 3)


def resolve(ctx: Ctx, pm_id: Any, param: str) -> dict[str, Any]:
    """An existing payment method, or a fresh copy of one of Stripe's test payment methods."""
    if isinstance(pm_id, str) and pm_id in cards.TEST_PAYMENT_METHODS:
        return card_from_template(ctx, cards.TEST_PAYMENT_METHODS[pm_id])
    return ctx.account.require("payment_method", pm_id, param=param, kind="PaymentMethod")


def verify(pm: dict[str, Any]) -> None:
    """The $0 check Stripe runs when a card is saved: declining cards fail here."""
    card = cards.lookup(pm["_number"])
    if card.decline and not card.charge_only:
        raise cards.decline_error(card.decline, payment_method=None)


def charge(pm: dict[str, Any] | None) -> None:
    if pm is None:
        raise StripeError(
            "This customer has no attached payment source or default payment method.",
            code="resource_missing",
            status=402,
            type="card_error",
        )
    card = cards.lookup(pm["_number"])
    if card.decline:
        raise cards.decline_error(card.decline)


def attach(
    ctx: Ctx, pm: dict[str, Any], cus: dict[str, Any], emit_first: Callable[[], Any] | None = None
) -> dict[str, Any]:
    if pm["customer"] == cus["id"]:
        return pm
    if pm.get("_detached"):
        raise StripeError(
            "The provided PaymentMethod was previously used with a PaymentIntent without Customer "
            "attachment, shared with a connected account without Customer attachment, or was detached "
            "from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must "
            "attach it to a Customer first.",
            code="payment_method_unexpected_state",
            param="payment_method",
        )
    if pm["customer"] is not None:
        raise StripeError(
            "The payment method you provided has already been attached to a customer.",
            code="payment_method_unexpected_state",
            param="payment_method",
        )
    verify(pm)
    if emit_first:
        emit_first()
    pm["customer"] = cus["id"]
    ctx.emit("payment_method.attached", pm)
    return pm


def detach(ctx: Ctx, pm: dict[str, Any]) -> dict[str, Any]:
    cus_id = pm["customer"]
    if cus_id is None:
        raise StripeError(
            f"The payment method {pm['id']} is not attached to a customer.",
            code="payment_method_unexpected_state",
        )
    pm["customer"] = None
    pm["_detached"] = True  # Stripe: a detached payment method can never be attached again
    cus = ctx.account.get("customer", cus_id)
    if cus is not None and cus["invoice_settings"]["default_payment_method"] == pm["id"]:
        before = copy_json(cus)
        cus["invoice_settings"] = {**cus["invoice_settings"], "default_payment_method": None}
        ctx.emit("customer.updated", cus, changed(before, cus))
    for sub in ctx.account.all("subscription"):
        if sub["default_payment_method"] == pm["id"]:
            sub["default_payment_method"] = None
            ctx.emit("customer.subscription.updated", sub, {"default_payment_method": pm["id"]})
    ctx.emit("payment_method.detached", pm, {"customer": cus_id})
    return pm
