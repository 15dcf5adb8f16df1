"""/v1/setup_intents: save a card for later (create, confirm, cancel, retrieve, update, list)."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import StripeError
from stripe_emulator.listing import paginate
from stripe_emulator.operations.customers import live_customer
from stripe_emulator.operations.payment_methods import resolve
from stripe_emulator.operations.setup_intents import confirm, new_setup_intent
from stripe_emulator.registry import route
from stripe_emulator.wire import check_known, merge_metadata, take_bool, take_list, take_str

CREATE_PARAMS = frozenset(
    {
        "customer",
        "payment_method",
        "payment_method_types",
        "usage",
        "confirm",
        "metadata",
        "description",
        "automatic_payment_methods",
        "return_url",
        "attach_to_self",
        "flow_directions",
    }
)


@route("POST", "/v1/setup_intents")
def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(params, CREATE_PARAMS)
    cus_id = take_str(params, "customer")
    if cus_id is not None:
        live_customer(ctx, cus_id, "customer")
    pm_id = take_str(params, "payment_method")
    pm = resolve(ctx, pm_id, "payment_method") if pm_id else None
    si = new_setup_intent(
        ctx,
        customer=cus_id,
        usage=take_str(params, "usage", choices=("off_session", "on_session")) or "off_session",
        metadata=merge_metadata({}, params),
        description=take_str(params, "description"),
        payment_method_types=take_list(params, "payment_method_types"),
    )
    if pm is not None:
        si["payment_method"] = pm["id"]
        si["status"] = "requires_confirmation"
        if take_bool(params, "confirm"):
            confirm(ctx, si, pm)
    return si


@route("GET", "/v1/setup_intents/{intent}")
def retrieve(ctx: Ctx, params: dict[str, Any], intent: str) -> dict[str, Any]:
    check_known(params, frozenset({"client_secret"}))
    return ctx.account.require("setup_intent", intent, kind="setupintent")


@route("POST", "/v1/setup_intents/{intent}")
def update(ctx: Ctx, params: dict[str, Any], intent: str) -> dict[str, Any]:
    check_known(
        params, frozenset({"customer", "payment_method", "metadata", "description", "payment_method_types"})
    )
    si = ctx.account.require("setup_intent", intent, kind="setupintent")
    if si["status"] in ("succeeded", "canceled") and set(params) - {"metadata", "description", "expand"}:
        raise StripeError(
            f"This SetupIntent has a status of {si['status']}; only its metadata and description can be updated.",
            code="setup_intent_unexpected_state",
        )
    if "customer" in params:
        si["customer"] = take_str(params, "customer")
    if "description" in params:
        si["description"] = take_str(params, "description")
    if "payment_method" in params:
        pm_id = take_str(params, "payment_method")
        si["payment_method"] = resolve(ctx, pm_id, "payment_method")["id"] if pm_id else None
        si["status"] = "requires_confirmation" if pm_id else "requires_payment_method"
    si["metadata"] = merge_metadata(si["metadata"], params)
    return si


@route("POST", "/v1/setup_intents/{intent}/confirm")
def confirm_route(ctx: Ctx, params: dict[str, Any], intent: str) -> dict[str, Any]:
    check_known(params, frozenset({"payment_method", "return_url", "mandate_data", "use_stripe_sdk"}))
    si = ctx.account.require("setup_intent", intent, kind="setupintent")
    pm_id = take_str(params, "payment_method") or si["payment_method"]
    if pm_id is None:
        raise StripeError(
            "You cannot confirm this SetupIntent because it's missing a payment method. "
            "Update the SetupIntent with a payment method and then confirm it again.",
            code="setup_intent_unexpected_state",
        )
    return confirm(ctx, si, resolve(ctx, pm_id, "payment_method"))


@route("POST", "/v1/setup_intents/{intent}/cancel")
def cancel(ctx: Ctx, params: dict[str, Any], intent: str) -> dict[str, Any]:
    check_known(params, frozenset({"cancellation_reason"}))
    si = ctx.account.require("setup_intent", intent, kind="setupintent")
    if si["status"] in ("succeeded", "canceled"):
        raise StripeError(
            f"You cannot cancel this SetupIntent because it has a status of {si['status']}.",
            code="setup_intent_unexpected_state",
        )
    si["status"] = "canceled"
    si["cancellation_reason"] = take_str(
        params, "cancellation_reason", choices=("abandoned", "duplicate", "requested_by_customer")
    )
    ctx.emit("setup_intent.canceled", si)
    return si


@route("GET", "/v1/setup_intents")
def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params,
        frozenset(
            {
                "customer",
                "payment_method",
                "limit",
                "starting_after",
                "ending_before",
                "created",
                "attach_to_self",
            }
        ),
    )
    customer = take_str(params, "customer")
    pm = take_str(params, "payment_method")
    rows = (
        s
        for s in ctx.account.all("setup_intent")
        if (customer is None or s["customer"] == customer) and (pm is None or s["payment_method"] == pm)
    )
    return paginate(params, rows, "/v1/setup_intents")
