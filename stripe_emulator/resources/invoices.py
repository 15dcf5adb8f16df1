"""/v1/invoices: the invoice lifecycle draft → open → paid | void | uncollectible over HTTP.

The steps subscriptions share (`build_invoice`, `finalize`, `attempt_payment`, …) are in
`operations.invoices`; the routes below expose them to clients.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx, changed
from stripe_emulator.errors import StripeError
from stripe_emulator.listing import paginate
from stripe_emulator.operations.customers import live_customer
from stripe_emulator.operations.invoices import (
    add_to_invoice,
    attempt_payment,
    build_invoice,
    customer_details,
    finalize,
    mark_paid,
    payment_method_for,
    store_invoice,
    subscription_id,
)
from stripe_emulator.operations.payment_methods import attach, resolve
from stripe_emulator.operations.prorations import PRORATION_BEHAVIORS, plan_change, preview_invoice
from stripe_emulator.registry import renderer, route
from stripe_emulator.render import copy_json
from stripe_emulator.wire import (
    check_known,
    merge_metadata,
    take_bool,
    take_dict,
    take_int,
    take_list,
    take_str,
)


@renderer("invoice")
def _render(ctx: Ctx, obj: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    lines = [copy_json(line) for line in obj["_lines"]]
    out["lines"] = {
        "object": "list",
        "data": lines[:10],
        "has_more": len(lines) > 10,
        "url": f"/v1/invoices/{obj['id']}/lines",
    }
    cus = ctx.account.get("customer", obj["customer"])
    if obj["status"] == "draft" and cus is not None and not cus.get("deleted"):
        out.update(customer_details(ctx, cus))
    if obj["status"] != "draft":
        out["hosted_invoice_url"] = ctx.url(f"/invoice/{obj['_token']}")
        out["invoice_pdf"] = ctx.url(f"/invoice/{obj['_token']}/pdf")
    return out


# --- routes ---------------------------------------------------------------------------

_EDITABLE = frozenset(
    {
        "description",
        "metadata",
        "footer",
        "auto_advance",
        "days_until_due",
        "default_payment_method",
        "collection_method",
        "due_date",
    }
)


def _apply(ctx: Ctx, inv: dict[str, Any], params: dict[str, Any]) -> None:
    if inv["status"] != "draft" and set(params) - {"metadata", "expand", "description", "footer"}:
        raise StripeError("Finalized invoices can't be updated in this way.")
    if "description" in params:
        inv["description"] = take_str(params, "description")
    if "footer" in params:
        inv["footer"] = take_str(params, "footer")
    if "auto_advance" in params:
        inv["auto_advance"] = bool(take_bool(params, "auto_advance"))
    if "collection_method" in params:
        inv["collection_method"] = take_str(
            params, "collection_method", required=True, choices=("charge_automatically", "send_invoice")
        )
    if "days_until_due" in params:
        inv["_days_until_due"] = take_int(params, "days_until_due", minimum=0)
    if "default_payment_method" in params:
        pm_id = take_str(params, "default_payment_method")
        if pm_id is not None:
            ctx.account.require("payment_method", pm_id, param="default_payment_method", kind="PaymentMethod")
        inv["default_payment_method"] = pm_id
    inv["metadata"] = merge_metadata(inv["metadata"], params)


@route("POST", "/v1/invoices")
def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params, _EDITABLE | {"customer", "currency", "pending_invoice_items_behavior", "subscription"}
    )
    cus = live_customer(ctx, take_str(params, "customer", required=True), "customer")
    method = (
        take_str(params, "collection_method", choices=("charge_automatically", "send_invoice"))
        or "charge_automatically"
    )
    days = take_int(params, "days_until_due", minimum=0)
    if method == "send_invoice" and days is None and "due_date" not in params:
        raise StripeError(
            "Missing required param: days_until_due.", code="parameter_missing", param="days_until_due"
        )
    behavior = take_str(params, "pending_invoice_items_behavior", choices=("exclude", "include")) or "exclude"
    currency = (take_str(params, "currency") or cus["currency"] or "usd").lower()
    pending = (
        [ii for ii in ctx.account.all("invoiceitem") if ii["customer"] == cus["id"] and ii["invoice"] is None]
        if behavior == "include"
        else []
    )
    draft = build_invoice(
        ctx,
        cus,
        lines=[],
        currency=currency,
        billing_reason="manual",
        collection_method=method,
        days_until_due=days,
        auto_advance=take_bool(params, "auto_advance") or False,
    )
    inv = store_invoice(ctx, cus, draft)
    _apply(
        ctx,
        inv,
        {
            k: v
            for k, v in params.items()
            if k in ("description", "footer", "metadata", "default_payment_method")
        },
    )
    for ii in pending:
        add_to_invoice(ctx, ii, inv)
    return inv


@route("POST", "/v1/invoices/create_preview")
def create_preview(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """The invoice a subscription change would bill (nothing stored, no events): the one the
    update creates at once (`always_invoice`, a cycle reset), else the renewal invoice."""
    check_known(params, frozenset({"customer", "subscription", "subscription_details", "preview_mode"}))
    sub = ctx.account.require(
        "subscription", take_str(params, "subscription", required=True), param="subscription"
    )
    customer = take_str(params, "customer")
    if customer is not None and customer != sub["customer"]:
        raise StripeError(
            f"The subscription {sub['id']} does not belong to the customer {customer}.", param="subscription"
        )
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise StripeError("No upcoming invoices for a canceled subscription.", param="subscription")
    details = take_dict(params, "subscription_details") or {}
    check_known(
        {f"subscription_details[{k}]": v for k, v in details.items()},
        {f"subscription_details[{k}]" for k in _PREVIEW_DETAILS},
    )
    prefix = "subscription_details"
    change = plan_change(
        ctx,
        sub,
        take_list(details, "items", param=f"{prefix}[items]") or [],
        behavior=take_str(
            details, "proration_behavior", param=f"{prefix}[proration_behavior]", choices=PRORATION_BEHAVIORS
        )
        or "create_prorations",
        proration_date=take_int(details, "proration_date", param=f"{prefix}[proration_date]"),
        anchor_now=take_str(
            details,
            "billing_cycle_anchor",
            param=f"{prefix}[billing_cycle_anchor]",
            choices=("now", "unchanged"),
        )
        == "now",
        prefix=f"{prefix}[items]",
        date_param=f"{prefix}[proration_date]",
    )
    return preview_invoice(ctx, change)


_PREVIEW_DETAILS = ("items", "proration_date", "proration_behavior", "billing_cycle_anchor")


@route("GET", "/v1/invoices/{invoice}")
def retrieve(ctx: Ctx, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    check_known(params, frozenset())
    return ctx.account.require("invoice", invoice)


@route("POST", "/v1/invoices/{invoice}")
def update(ctx: Ctx, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    check_known(params, _EDITABLE)
    inv = ctx.account.require("invoice", invoice)
    before = copy_json(inv)
    _apply(ctx, inv, params)
    diff = {k: v for k, v in changed(before, inv).items() if not k.startswith("_")}
    if diff:
        ctx.emit("invoice.updated", inv, diff)
    return inv


@route("DELETE", "/v1/invoices/{invoice}")
def delete(ctx: Ctx, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    check_known(params, frozenset())
    inv = ctx.account.require("invoice", invoice)
    if inv["status"] != "draft":
        raise StripeError("You can only delete draft invoices.")
    ctx.account.remove(inv)
    ctx.emit("invoice.deleted", inv)
    return {"id": inv["id"], "object": "invoice", "deleted": True}


@route("GET", "/v1/invoices")
def list_(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    check_known(
        params,
        frozenset(
            {
                "customer",
                "subscription",
                "status",
                "collection_method",
                "limit",
                "starting_after",
                "ending_before",
                "created",
                "due_date",
                "customer_account",
            }
        ),
    )
    customer = take_str(params, "customer")
    subscription = take_str(params, "subscription")
    status = take_str(params, "status", choices=("draft", "open", "paid", "uncollectible", "void"))
    method = take_str(params, "collection_method", choices=("charge_automatically", "send_invoice"))
    rows = (
        i
        for i in ctx.account.all("invoice")
        if (customer is None or i["customer"] == customer)
        and (subscription is None or subscription_id(i) == subscription)
        and (status is None or i["status"] == status)
        and (method is None or i["collection_method"] == method)
    )
    return paginate(params, rows, "/v1/invoices")


@route("GET", "/v1/invoices/{invoice}/lines")
def lines(ctx: Ctx, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    check_known(params, frozenset({"limit", "starting_after", "ending_before"}))
    inv = ctx.account.require("invoice", invoice)
    # Lines read in invoice order, so page over them reversed twice.
    page = paginate(params, reversed(inv["_lines"]), f"/v1/invoices/{invoice}/lines")
    return {**page, "data": [copy_json(line) for line in page["data"]]}


@route("POST", "/v1/invoices/{invoice}/finalize")
def finalize_route(ctx: Ctx, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    check_known(params, frozenset({"auto_advance"}))
    inv = ctx.account.require("invoice", invoice)
    if "auto_advance" in params:
        inv["auto_advance"] = bool(take_bool(params, "auto_advance"))
    return finalize(ctx, inv)


@route("POST", "/v1/invoices/{invoice}/pay")
def pay(ctx: Ctx, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    check_known(
        params,
        frozenset({"payment_method", "paid_out_of_band", "off_session", "forgive", "source", "mandate"}),
    )
    inv = ctx.account.require("invoice", invoice)
    if inv["status"] == "draft":
        finalize(ctx, inv)
    if inv["status"] == "paid":
        raise StripeError("Invoice is already paid.")
    if inv["status"] == "void":
        raise StripeError("This invoice has been voided and can no longer be paid.")
    if take_bool(params, "paid_out_of_band"):
        mark_paid(ctx, inv)
        return inv
    pm = None
    pm_id = take_str(params, "payment_method")
    if pm_id is not None:
        pm = resolve(ctx, pm_id, "payment_method")
        if pm["customer"] is None:
            attach(ctx, pm, ctx.account.require("customer", inv["customer"]))
    elif payment_method_for(ctx, inv) is None:
        raise StripeError(
            "This customer has no attached payment source or default payment method. "
            "Please consider adding a default payment method."
        )
    error = attempt_payment(ctx, inv, pm)
    if error is not None:
        raise error
    return inv


@route("POST", "/v1/invoices/{invoice}/void")
def void(ctx: Ctx, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    check_known(params, frozenset())
    inv = ctx.account.require("invoice", invoice)
    if inv["status"] not in ("open", "uncollectible"):
        raise StripeError(f"You can only void open or uncollectible invoices; this one is {inv['status']}.")
    now = ctx.now()
    inv.update(status="void", amount_remaining=0, next_payment_attempt=None)
    inv["status_transitions"] = {**inv["status_transitions"], "voided_at": now}
    ctx.emit("invoice.voided", inv)
    return inv


@route("POST", "/v1/invoices/{invoice}/mark_uncollectible")
def mark_uncollectible(ctx: Ctx, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    check_known(params, frozenset())
    inv = ctx.account.require("invoice", invoice)
    if inv["status"] != "open":
        raise StripeError(f"You can only mark open invoices uncollectible; this one is {inv['status']}.")
    inv["status"] = "uncollectible"
    inv["next_payment_attempt"] = None
    inv["status_transitions"] = {**inv["status_transitions"], "marked_uncollectible_at": ctx.now()}
    ctx.emit("invoice.marked_uncollectible", inv)
    return inv


@route("POST", "/v1/invoices/{invoice}/send")
def send(ctx: Ctx, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    check_known(params, frozenset())
    inv = ctx.account.require("invoice", invoice)
    if inv["collection_method"] != "send_invoice" or inv["status"] != "open":
        raise StripeError(
            "You can only manually send an invoice if its collection method is 'send_invoice' and it is open."
        )
    ctx.emit("invoice.sent", inv)
    return inv
