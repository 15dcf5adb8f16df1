"""Completing or expiring a Checkout Session (`mode=setup`): the hosted page's submit, the
expire route, and the lazy expiry when a session past `expires_at` is read."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import StripeError
from stripe_emulator.operations.setup_intents import confirm


def customer_details(cus: dict[str, Any], name: str | None) -> dict[str, Any]:
    """A session's `customer_details` from its customer (`name`: the cardholder, when given)."""
    return {
        "address": cus["address"],
        "business_name": None,
        "email": cus["email"],
        "individual_name": None,
        "name": name or cus["name"],
        "phone": cus["phone"],
        "tax_exempt": cus["tax_exempt"],
        "tax_ids": [],
    }


def complete(ctx: Ctx, session: dict[str, Any], pm: dict[str, Any], cardholder: str | None) -> None:
    """The hosted page's submit: confirm the setup intent with the new card (raises on decline)."""
    si = ctx.account.require("setup_intent", session["setup_intent"])
    confirm(ctx, si, pm)
    cus = ctx.account.get("customer", session["customer"])
    session["status"] = "complete"
    session["customer_details"] = (
        customer_details(cus, cardholder)
        if cus
        else {
            "address": None,
            "business_name": None,
            "email": session["customer_email"],
            "individual_name": None,
            "name": cardholder,
            "phone": None,
            "tax_exempt": "none",
            "tax_ids": [],
        }
    )
    ctx.emit("checkout.session.completed", session)


def expire(ctx: Ctx, session: dict[str, Any]) -> dict[str, Any]:
    if session["status"] != "open":
        raise StripeError(
            f"Only Checkout Sessions with a status of open can be expired; this one is {session['status']}."
        )
    session["status"] = "expired"
    si = ctx.account.get("setup_intent", session["setup_intent"])
    if si is not None and si["status"] not in ("succeeded", "canceled"):
        si["status"] = "canceled"
        si["cancellation_reason"] = "abandoned"
        ctx.emit("setup_intent.canceled", si)
    ctx.emit("checkout.session.expired", session)
    return session
