"""Customer lookups the other operations and resources need."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import StripeError
from stripe_emulator.ids import new_id
from stripe_emulator.render import RenderCtx
from stripe_emulator.tax_formats import TAX_ID_TYPES, check_value, country_of, initial_status

MAX_TAX_IDS = 25


def live_customer(ctx: Ctx, cus_id: Any, param: str = "id") -> dict[str, Any]:
    """The customer, unless missing or deleted (a deleted customer answers 404 like a missing one)."""
    cus = ctx.account.require("customer", cus_id, param=param)
    if cus.get("deleted"):
        raise StripeError(f"No such customer: '{cus_id}'", status=404, code="resource_missing", param=param)
    return cus


def require_attached(ctx: Ctx, cus: dict[str, Any], pm_id: str, param: str) -> dict[str, Any]:
    pm = ctx.account.require("payment_method", pm_id, param=param, kind="PaymentMethod")
    if pm["customer"] != cus["id"]:
        raise StripeError(
            f"The customer does not have a payment method with the ID {pm_id}. "
            "The payment method must be attached to the customer.",
            code="resource_missing",
            param=param,
        )
    return pm


def customer_tax_ids(ctx: RenderCtx, cus_id: str) -> list[dict[str, Any]]:
    """The customer's tax ids, oldest first."""
    return [t for t in ctx.account.all("tax_id") if t["customer"] == cus_id]


def add_tax_id(ctx: Ctx, cus: dict[str, Any], tax_type: str, value: str, prefix: str = "") -> dict[str, Any]:
    """A new tax id of the customer, checked as Stripe checks it; `prefix` names the params in
    errors (`tax_id_data[0]` when it comes with a new customer)."""
    if tax_type not in TAX_ID_TYPES:
        raise StripeError(
            f"Invalid type: must be one of {', '.join(sorted(TAX_ID_TYPES))}",
            code="parameter_invalid_string",
            param=f"{prefix}[type]" if prefix else "type",
        )
    try:
        value = check_value(tax_type, value)
    except StripeError as err:
        err.param = f"{prefix}[value]" if prefix else "value"
        raise
    if len(customer_tax_ids(ctx, cus["id"])) >= MAX_TAX_IDS:
        raise StripeError(
            f"A customer can have at most {MAX_TAX_IDS} tax IDs.", code="tax_id_prohibited", param="value"
        )
    status = initial_status(tax_type, value)
    txi = {
        "id": new_id("txi"),
        "object": "tax_id",
        "country": country_of(tax_type, value),
        "created": ctx.now(),
        "customer": cus["id"],
        "customer_account": None,
        "livemode": False,
        "owner": {
            "customer": cus["id"],
            "type": "customer",
            "customer_account": None,
        },
        "type": tax_type,
        "value": value,
        "verification": {
            "status": status,
            "verified_address": None,
            "verified_name": cus["name"] if status == "verified" else None,
        },
    }
    ctx.account.add(txi)
    ctx.emit("customer.tax_id.created", txi)
    return txi


def remove_tax_id(ctx: Ctx, txi: dict[str, Any]) -> None:
    ctx.account.remove(txi)
    ctx.emit("customer.tax_id.deleted", txi)


def verify_pending_tax_ids(ctx: Ctx) -> int:
    """Stripe checks a pending tax id against its registry a little later; the emulator does it
    when the clock moves (any advance). Returns how many were verified."""
    count = 0
    for txi in ctx.account.all("tax_id"):
        if txi["verification"]["status"] != "pending":
            continue
        before = txi["verification"]
        cus = ctx.account.get("customer", txi["customer"])
        txi["verification"] = {**before, "status": "verified", "verified_name": (cus or {}).get("name")}
        ctx.emit("customer.tax_id.updated", txi, {"verification": before})
        count += 1
    return count
