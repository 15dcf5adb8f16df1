"""Customer lookups the other operations and resources need."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import StripeError


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


def customer_tax_ids(ctx: Ctx, cus_id: str) -> list[dict[str, Any]]:
    """The customer's tax ids, oldest first."""
    return [t for t in ctx.account.all("tax_id") if t["customer"] == cus_id]


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
