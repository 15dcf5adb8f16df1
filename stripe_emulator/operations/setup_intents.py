"""Setup intents as Checkout and the API use them: create one, confirm it with a card."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import StripeError
from stripe_emulator.ids import new_id, random_text
from stripe_emulator.operations.payment_methods import attach, verify
from stripe_emulator.render import render


def new_setup_intent(
    ctx: Ctx,
    *,
    customer: str | None,
    usage: str = "off_session",
    metadata: dict[str, str] | None = None,
    description: str | None = None,
    payment_method_types: list[str] | None = None,
) -> dict[str, Any]:
    si_id = new_id("seti")
    si = {
        "id": si_id,
        "object": "setup_intent",
        "application": None,
        "automatic_payment_methods": None,
        "cancellation_reason": None,
        "client_secret": f"{si_id}_secret_{random_text(32)}",
        "created": ctx.now(),
        "customer": customer,
        "description": description,
        "excluded_payment_method_types": None,
        "flow_directions": None,
        "last_setup_error": None,
        "latest_attempt": None,
        "livemode": False,
        "mandate": None,
        "metadata": metadata or {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {"mandate_options": None, "network": None, "request_three_d_secure": "automatic"}
        },
        "payment_method_types": payment_method_types or ["card"],
        "single_use_mandate": None,
        "status": "requires_payment_method",
        "usage": usage,
    }
    ctx.account.add(si)
    ctx.emit("setup_intent.created", si)
    return si


def confirm(ctx: Ctx, si: dict[str, Any], pm: dict[str, Any]) -> dict[str, Any]:
    """Verify the card; on success attach it to the intent's customer. Raises the card error on decline."""
    if si["status"] in ("succeeded", "canceled"):
        raise StripeError(
            f"You cannot confirm this SetupIntent because it has a status of {si['status']}.",
            code="setup_intent_unexpected_state",
        )
    si["payment_method"] = pm["id"]
    try:
        verify(pm)
        if si["customer"] is not None:
            attach(ctx, pm, ctx.account.require("customer", si["customer"]))
    except StripeError as err:
        body = err.body()["error"]
        si.update(
            status="requires_payment_method",
            payment_method=None,
            last_setup_error={
                k: body.get(k) for k in ("code", "decline_code", "doc_url", "message", "param", "type")
            }
            | {"payment_method": render(ctx, pm)},
        )
        ctx.emit("setup_intent.setup_failed", si)
        err.extra["setup_intent"] = render(ctx, si)
        err.extra["payment_method"] = render(ctx, pm)
        raise
    si.update(status="succeeded", last_setup_error=None)
    ctx.emit("setup_intent.succeeded", si)
    return si
