"""/v1/customers/{customer}/tax_ids: create, list, retrieve, delete (Stripe's customer tax ids)."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import StripeError
from stripe_emulator.listing import paginate
from stripe_emulator.operations.customers import add_tax_id, customer_tax_ids, live_customer, remove_tax_id
from stripe_emulator.registry import route
from stripe_emulator.wire import check_known, take_str


def _owned(ctx: Ctx, customer: str, tax_id: str) -> dict[str, Any]:
    cus = live_customer(ctx, customer)
    txi = ctx.account.get("tax_id", tax_id)
    if txi is None or txi["customer"] != cus["id"]:
        raise StripeError(f"No such tax id: '{tax_id}'", status=404, code="resource_missing", param="id")
    return txi


@route("POST", "/v1/customers/{customer}/tax_ids")
def create(ctx: Ctx, params: dict[str, Any], customer: str) -> dict[str, Any]:
    check_known(params, frozenset({"type", "value"}))
    cus = live_customer(ctx, customer)
    tax_type = take_str(params, "type", required=True) or ""
    return add_tax_id(ctx, cus, tax_type, take_str(params, "value", required=True) or "")


@route("GET", "/v1/customers/{customer}/tax_ids")
def list_(ctx: Ctx, params: dict[str, Any], customer: str) -> dict[str, Any]:
    check_known(params, frozenset({"limit", "starting_after", "ending_before"}))
    cus = live_customer(ctx, customer)
    return paginate(params, customer_tax_ids(ctx, cus["id"]), f"/v1/customers/{customer}/tax_ids")


@route("GET", "/v1/customers/{customer}/tax_ids/{tax_id}")
def retrieve(ctx: Ctx, params: dict[str, Any], customer: str, tax_id: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return _owned(ctx, customer, tax_id)


@route("DELETE", "/v1/customers/{customer}/tax_ids/{tax_id}")
def delete(ctx: Ctx, params: dict[str, Any], customer: str, tax_id: str) -> dict[str, Any]:
    check_known(params, frozenset())
    remove_tax_id(ctx, _owned(ctx, customer, tax_id))
    return {"id": tax_id, "object": "tax_id", "deleted": True}
