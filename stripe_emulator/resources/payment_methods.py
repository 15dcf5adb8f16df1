"""/v1/payment_methods (create, retrieve, update, list, attach, detach) and the customer's view of them."""

from __future__ import annotations

from typing import Any

from stripe_emulator import cards
from stripe_emulator.context import Ctx, changed
from stripe_emulator.errors import StripeError, card_error, invalid
from stripe_emulator.listing import paginate
from stripe_emulator.operations.customers import live_customer
from stripe_emulator.operations.payment_methods import (
    attach,
    card_from_template,
    detach,
    merge_billing_details,
    new_card_pm,
    resolve,
    today,
)
from stripe_emulator.registry import route
from stripe_emulator.render import copy_json
from stripe_emulator.wire import check_known, merge_metadata, take_dict, take_int, take_str


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
        pm = card_from_template(ctx, number)
    else:
        now = today(ctx)
        number = "".join(ch for ch in str(raw.get("number", "")) if ch.isdigit())
        month, year = validate_card(number, raw.get("exp_month"), raw.get("exp_year"), now.year, now.month)
        pm = new_card_pm(ctx, number, month, year, cvc_provided=bool(raw.get("cvc")))
    pm["billing_details"] = merge_billing_details(
        take_dict(params, "billing_details"), pm["billing_details"]
    )
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
        pm["billing_details"] = merge_billing_details(
        take_dict(params, "billing_details"), pm["billing_details"]
    )
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
