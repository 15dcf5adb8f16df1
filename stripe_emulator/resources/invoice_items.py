"""/v1/invoiceitems: one-off charges that land on a given draft invoice, or on the next invoice
of a given subscription (`subscription`), or on a manual invoice that includes pending items."""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import invalid, missing
from stripe_emulator.listing import paginate
from stripe_emulator.operations.customers import live_customer
from stripe_emulator.operations.invoices import add_to_invoice, build_invoice_item, remove_from_invoice
from stripe_emulator.registry import route
from stripe_emulator.wire import check_known, merge_metadata, take_bool, take_dict, take_int, take_str


@route("POST", "/v1/invoiceitems")
def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params,
        frozenset(
            {
                "customer",
                "amount",
                "currency",
                "description",
                "quantity",
                "invoice",
                "metadata",
                "pricing",
                "period",
                "unit_amount_decimal",
                "discountable",
                "subscription",
            }
        ),
    )
    cus = live_customer(ctx, take_str(params, "customer", required=True), "customer")
    quantity = take_int(params, "quantity", minimum=1) or 1
    pricing = take_dict(params, "pricing") or {}
    price_id = take_str(pricing, "price")
    if price_id is not None:
        price = ctx.account.require("price", price_id, param="pricing[price]")
        amount, currency = price["unit_amount"] * quantity, price["currency"]
        description = (
            take_str(params, "description") or ctx.account.require("product", price["product"])["name"]
        )
    else:
        amount = take_int(params, "amount")
        if amount is None:
            raise missing("amount")
        currency = take_str(params, "currency") or cus["currency"]
        if currency is None:
            raise missing("currency")
        description = take_str(params, "description")
    now = ctx.now()
    period = take_dict(params, "period") or {}
    sub_id = take_str(params, "subscription")
    sub = ctx.account.require("subscription", sub_id, param="subscription") if sub_id else None
    if sub is not None and sub["customer"] != cus["id"]:
        raise invalid("subscription", f"The subscription {sub_id} belongs to another customer.")
    ii = build_invoice_item(
        customer=cus["id"],
        amount=amount,
        currency=currency,
        description=description,
        quantity=quantity,
        period=(take_int(period, "start") or now, take_int(period, "end") or now),
        at=now,
        metadata=merge_metadata({}, params),
        discountable=take_bool(params, "discountable") is not False,
        subscription=sub_id,  # then that subscription's next invoice takes it
    )
    inv_id = take_str(params, "invoice")
    inv = ctx.account.require("invoice", inv_id, param="invoice") if inv_id else None
    ctx.account.add(ii)
    if inv is not None:
        add_to_invoice(ctx, ii, inv)
    ctx.emit("invoiceitem.created", ii)
    return ii


@route("GET", "/v1/invoiceitems/{invoiceitem}")
def retrieve(ctx: Ctx, params: dict[str, Any], invoiceitem: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return ctx.account.require("invoiceitem", invoiceitem, kind="invoiceitem")


@route("DELETE", "/v1/invoiceitems/{invoiceitem}")
def delete(ctx: Ctx, params: dict[str, Any], invoiceitem: str) -> dict[str, Any]:
    check_known(params, frozenset())
    ii = ctx.account.require("invoiceitem", invoiceitem, kind="invoiceitem")
    if ii["invoice"] is not None:
        remove_from_invoice(ii, ctx.account.require("invoice", ii["invoice"]))
    ctx.account.remove(ii)
    ctx.emit("invoiceitem.deleted", ii)
    return {"id": ii["id"], "object": "invoiceitem", "deleted": True}


@route("GET", "/v1/invoiceitems")
def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params,
        frozenset({"customer", "invoice", "pending", "limit", "starting_after", "ending_before", "created"}),
    )
    customer = take_str(params, "customer")
    invoice = take_str(params, "invoice")
    pending = take_bool(params, "pending")
    rows = (
        ii
        for ii in ctx.account.all("invoiceitem")
        if (customer is None or ii["customer"] == customer)
        and (invoice is None or ii["invoice"] == invoice)
        and (pending is None or (ii["invoice"] is None) == pending)
    )
    return paginate(params, rows, "/v1/invoiceitems")
