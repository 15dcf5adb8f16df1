"""/v1/payment_methods (create, retrieve, update, list, attach, detach) and the customer's view of them.

Stripe's test ids (`pm_card_visa`, …) are templates: using one creates a fresh `pm_…`
copy, as Stripe test mode does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from stripe_emulator import cards
from stripe_emulator.context import Ctx, changed
from stripe_emulator.errors import StripeError, card_error, invalid
from stripe_emulator.ids import new_id
from stripe_emulator.listing import paginate
from stripe_emulator.operations.customers import live_customer
from stripe_emulator.registry import route
from stripe_emulator.render import copy_json
from stripe_emulator.wire import check_known, merge_metadata, take_dict, take_int, take_str

_ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")


def _billing_details(raw: dict[str, Any] | None, current: dict[str, Any] | None = None) -> dict[str, Any]:
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


def validate_card(
    number: str, exp_month: Any, exp_year: Any, now_year: int, now_month: int
) -> tuple[int, int]:
    """Tokenisation checks Stripe performs before any network call (402 card_error)."""
    digits = "".join(ch for ch in str(number) if ch.isdigit())
    if len(digits) < 12 or not cards.luhn_ok(digits):
        raise card_error(
            "invalid_number" if len(digits) >= 12 else "incomplete_number",
            "Your card number is invalid." if len(digits) >= 12 else "Your card number is incomplete.",
            param="number",
        )
    try:
        month = int(exp_month)
    except (TypeError, ValueError):
        raise card_error(
            "invalid_expiry_month", "Your card's expiration month is invalid.", param="exp_month"
        ) from None
    if not 1 <= month <= 12:
        raise card_error(
            "invalid_expiry_month", "Your card's expiration month is invalid.", param="exp_month"
        )
    try:
        year = int(exp_year)
    except (TypeError, ValueError):
        raise card_error(
            "invalid_expiry_year", "Your card's expiration year is invalid.", param="exp_year"
        ) from None
    if year < 100:
        year += 2000
    if year < now_year or year > now_year + 50:
        raise card_error("invalid_expiry_year", "Your card's expiration year is invalid.", param="exp_year")
    if (year, month) < (now_year, now_month):
        raise card_error(
            "invalid_expiry_month", "Your card's expiration date is in the past.", param="exp_month"
        )
    return month, year


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
        "billing_details": _billing_details(billing_details),
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


def _from_template(ctx: Ctx, number: str) -> dict[str, Any]:
    now = today(ctx)
    return new_card_pm(ctx, number, now.month, now.year + 3)


def resolve(ctx: Ctx, pm_id: Any, param: str) -> dict[str, Any]:
    """An existing payment method, or a fresh copy of one of Stripe's test payment methods."""
    if isinstance(pm_id, str) and pm_id in cards.TEST_PAYMENT_METHODS:
        return _from_template(ctx, cards.TEST_PAYMENT_METHODS[pm_id])
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


@route("POST", "/v1/payment_methods")
def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params,
        frozenset(
            {"type", "card", "billing_details", "metadata", "allow_redisplay", "customer", "payment_method"}
        ),
    )
    take_str(params, "type", required=True, choices=("card",))
    raw = take_dict(params, "card")
    if raw is None:
        raise StripeError("Missing required param: card.", code="parameter_missing", param="card")
    token = take_str(raw, "token")
    if token is not None:
        number = cards.TEST_TOKENS.get(token)
        if number is None:
            raise StripeError(
                f"No such token: '{token}'", status=404, code="resource_missing", param="card[token]"
            )
        pm = _from_template(ctx, number)
    else:
        now = today(ctx)
        number = "".join(ch for ch in str(raw.get("number", "")) if ch.isdigit())
        month, year = validate_card(number, raw.get("exp_month"), raw.get("exp_year"), now.year, now.month)
        pm = new_card_pm(ctx, number, month, year, cvc_provided=bool(raw.get("cvc")))
    pm["billing_details"] = _billing_details(take_dict(params, "billing_details"), pm["billing_details"])
    pm["metadata"] = merge_metadata({}, params)
    if "allow_redisplay" in params:
        pm["allow_redisplay"] = take_str(
            params, "allow_redisplay", choices=("always", "limited", "unspecified")
        )
    return pm


@route("GET", "/v1/payment_methods/{payment_method}")
def retrieve(ctx: Ctx, params: dict[str, Any], payment_method: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return resolve(ctx, payment_method, "payment_method")


@route("POST", "/v1/payment_methods/{payment_method}")
def update(ctx: Ctx, params: dict[str, Any], payment_method: str) -> dict[str, Any]:
    check_known(params, frozenset({"billing_details", "card", "metadata", "allow_redisplay"}))
    pm = ctx.account.require("payment_method", payment_method, kind="PaymentMethod")
    before = copy_json(pm)
    if "billing_details" in params:
        pm["billing_details"] = _billing_details(take_dict(params, "billing_details"), pm["billing_details"])
    card = take_dict(params, "card")
    if card:
        for key in card:
            if key not in ("exp_month", "exp_year", "networks"):
                raise invalid(
                    f"card[{key}]", f"Received unknown parameter: card[{key}]", code="parameter_unknown"
                )
        month = take_int(card, "exp_month")
        year = take_int(card, "exp_year")
        pm["card"] = {
            **pm["card"],
            "exp_month": month or pm["card"]["exp_month"],
            "exp_year": year or pm["card"]["exp_year"],
        }
    pm["metadata"] = merge_metadata(pm["metadata"], params)
    if "allow_redisplay" in params:
        pm["allow_redisplay"] = take_str(
            params, "allow_redisplay", choices=("always", "limited", "unspecified")
        )
    diff = changed(before, pm)
    if diff:
        ctx.emit("payment_method.updated", pm, diff)
    return pm


@route("POST", "/v1/payment_methods/{payment_method}/attach")
def attach_route(ctx: Ctx, params: dict[str, Any], payment_method: str) -> dict[str, Any]:
    check_known(params, frozenset({"customer", "customer_account"}))
    cus_id = take_str(params, "customer", required=True)
    cus = live_customer(ctx, cus_id, "customer")
    pm = resolve(ctx, payment_method, "payment_method")
    return attach(ctx, pm, cus)


@route("POST", "/v1/payment_methods/{payment_method}/detach")
def detach_route(ctx: Ctx, params: dict[str, Any], payment_method: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return detach(ctx, ctx.account.require("payment_method", payment_method, kind="PaymentMethod"))


def _listed(ctx: Ctx, params: dict[str, Any], customer: str | None, url: str) -> dict[str, Any]:
    pm_type = take_str(params, "type")
    rows = (
        pm
        for pm in ctx.account.all("payment_method")
        if (customer is None or pm["customer"] == customer) and (pm_type is None or pm["type"] == pm_type)
    )
    return paginate(params, rows, url)


@route("GET", "/v1/payment_methods")
def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params,
        frozenset(
            {
                "customer",
                "type",
                "limit",
                "starting_after",
                "ending_before",
                "customer_account",
                "allow_redisplay",
            }
        ),
    )
    customer = take_str(params, "customer")
    if customer is not None:
        live_customer(ctx, customer, "customer")
    return _listed(ctx, params, customer, "/v1/payment_methods")


@route("GET", "/v1/customers/{customer}/payment_methods")
def customer_list(ctx: Ctx, params: dict[str, Any], customer: str) -> dict[str, Any]:
    check_known(params, frozenset({"type", "limit", "starting_after", "ending_before", "allow_redisplay"}))
    live_customer(ctx, customer)
    return _listed(ctx, params, customer, f"/v1/customers/{customer}/payment_methods")


@route("GET", "/v1/customers/{customer}/payment_methods/{payment_method}")
def customer_retrieve(ctx: Ctx, params: dict[str, Any], customer: str, payment_method: str) -> dict[str, Any]:
    check_known(params, frozenset())
    pm = ctx.account.get("payment_method", payment_method)
    if pm is None or pm["customer"] != customer:
        raise StripeError(
            f"No such PaymentMethod: '{payment_method}'",
            status=404,
            code="resource_missing",
            param="payment_method",
        )
    return pm
