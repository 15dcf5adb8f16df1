"""/v1/invoices and the invoice lifecycle: draft → open → paid | void | uncollectible.

Subscriptions create their invoices through `new_invoice` / `finalize` / `attempt_payment`;
the API routes below expose the same steps to clients.
"""

from __future__ import annotations

from typing import Any

from stripe_emulator.context import Ctx, changed
from stripe_emulator.errors import StripeError
from stripe_emulator.ids import new_id, random_text
from stripe_emulator.listing import paginate
from stripe_emulator.operations.customers import live_customer
from stripe_emulator.operations.payment_methods import attach, charge, resolve
from stripe_emulator.registry import renderer, route
from stripe_emulator.render import copy_json
from stripe_emulator.wire import check_known, merge_metadata, take_bool, take_int, take_str

DAY = 86400


def new_line(
    ctx: Ctx,
    *,
    amount: int,
    currency: str,
    description: str | None,
    period: tuple[int, int],
    quantity: int = 1,
    unit_amount: int | None = None,
    subscription: str | None = None,
    subscription_item: str | None = None,
    invoice_item: str | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    if subscription_item is not None:
        parent = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
                "subscription_item": subscription_item,
            },
            "type": "subscription_item_details",
        }
    else:
        parent = {
            "invoice_item_details": {
                "invoice_item": invoice_item,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    return {
        "id": new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": metadata or {},
        "parent": parent,
        "period": {"end": period[1], "start": period[0]},
        "pretax_credit_amounts": [],
        "pricing": {
            "type": "price_details",
            "unit_amount_decimal": str(unit_amount if unit_amount is not None else amount),
        },
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "subscription": subscription,
        "subtotal": amount,
        "taxes": [],
    }


def new_invoice(
    ctx: Ctx,
    cus: dict[str, Any],
    *,
    lines: list[dict[str, Any]],
    currency: str,
    billing_reason: str,
    collection_method: str = "charge_automatically",
    days_until_due: int | None = None,
    subscription: dict[str, Any] | None = None,
    period: tuple[int, int] | None = None,
    at: int | None = None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    auto_advance: bool | None = None,
    default_payment_method: str | None = None,
) -> dict[str, Any]:
    now = at if at is not None else ctx.now()
    inv_id = new_id("in")
    for line in lines:
        line["invoice"] = inv_id
    total = sum(line["amount"] for line in lines)
    start, end = period or (now, now)
    inv: dict[str, Any] = {
        "id": inv_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "BillStack Emulator",
        "account_tax_ids": None,
        "amount_due": total,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": total,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": auto_advance if auto_advance is not None else subscription is not None,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": collection_method,
        "created": now,
        "currency": currency,
        "custom_fields": None,
        "customer": cus["id"],
        "customer_account": None,
        "customer_address": copy_json(cus["address"]),
        "customer_email": cus["email"],
        "customer_name": cus["name"],
        "customer_phone": cus["phone"],
        "customer_shipping": copy_json(cus["shipping"]),
        "customer_tax_exempt": cus["tax_exempt"],
        "customer_tax_ids": [],
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": description,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": None,
        "livemode": False,
        "metadata": metadata or {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": None
        if subscription is None
        else {
            "quote_details": None,
            "subscription_details": {
                "metadata": copy_json(subscription["metadata"]),
                "subscription": subscription["id"],
            },
            "type": "subscription_details",
        },
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": end,
        "period_start": start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": None,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": now,
        "_lines": lines,
        "_days_until_due": days_until_due,
        "_token": "test_" + random_text(48),
    }
    if cus["currency"] is None:
        cus["currency"] = currency
    ctx.account.add(inv)
    ctx.store.publish(inv["_token"], ctx.account, inv_id)
    ctx.emit("invoice.created", inv)
    return inv


def _recompute(inv: dict[str, Any]) -> None:
    total = sum(line["amount"] for line in inv["_lines"])
    inv.update(
        subtotal=total,
        subtotal_excluding_tax=total,
        total=total,
        total_excluding_tax=total,
        amount_due=total,
        amount_remaining=total - inv["amount_paid"],
    )


def finalize(ctx: Ctx, inv: dict[str, Any], at: int | None = None) -> dict[str, Any]:
    if inv["status"] != "draft":
        raise StripeError("This invoice is already finalized, you can't re-finalize a non-draft invoice.")
    now = at if at is not None else ctx.now()
    cus = ctx.account.require("customer", inv["customer"])
    seq = cus["next_invoice_sequence"]
    cus["next_invoice_sequence"] = seq + 1
    inv["number"] = f"{cus['invoice_prefix']}-{seq:04d}"
    inv["status"] = "open"
    inv["effective_at"] = now
    inv["status_transitions"] = {**inv["status_transitions"], "finalized_at": now}
    inv["customer_email"], inv["customer_name"], inv["customer_phone"] = (
        cus["email"],
        cus["name"],
        cus["phone"],
    )
    if inv["collection_method"] == "send_invoice":
        inv["due_date"] = now + DAY * (inv["_days_until_due"] if inv["_days_until_due"] is not None else 30)
    ctx.emit("invoice.finalized", inv)
    if inv["amount_due"] == 0:
        mark_paid(ctx, inv, at=now)
    return inv


def payment_method_for(ctx: Ctx, inv: dict[str, Any]) -> dict[str, Any] | None:
    candidates = [inv["default_payment_method"]]
    sub = ctx.account.get("subscription", _subscription_id(inv))
    if sub is not None:
        candidates.append(sub["default_payment_method"])
    cus = ctx.account.get("customer", inv["customer"])
    if cus is not None and not cus.get("deleted"):
        candidates.append(cus["invoice_settings"]["default_payment_method"])
    for pm_id in candidates:
        pm = ctx.account.get("payment_method", pm_id)
        if pm is not None:
            return pm
    return None


def attempt_payment(
    ctx: Ctx, inv: dict[str, Any], pm: dict[str, Any] | None = None, at: int | None = None
) -> StripeError | None:
    """Charge the invoice; returns the card error on failure (after recording the failed attempt)."""
    now = at if at is not None else ctx.now()
    pm = pm or payment_method_for(ctx, inv)
    inv["attempt_count"] += 1
    inv["attempted"] = True
    try:
        charge(pm)
    except StripeError as err:
        inv["next_payment_attempt"] = (
            now + 3 * DAY if inv["collection_method"] == "charge_automatically" else None
        )
        ctx.emit("invoice.payment_failed", inv)
        return err
    mark_paid(ctx, inv, at=now)
    return None


def mark_paid(ctx: Ctx, inv: dict[str, Any], at: int | None = None) -> None:
    now = at if at is not None else ctx.now()
    inv.update(status="paid", amount_paid=inv["amount_due"], amount_remaining=0, next_payment_attempt=None)
    inv["status_transitions"] = {**inv["status_transitions"], "paid_at": now}
    ctx.emit("invoice.paid", inv)
    ctx.emit("invoice.payment_succeeded", inv)
    sub = ctx.account.get("subscription", _subscription_id(inv))
    if sub is not None and not sub.get("_creating") and sub["status"] in ("incomplete", "past_due", "unpaid"):
        still_open = any(
            i["status"] == "open" and _subscription_id(i) == sub["id"] for i in ctx.account.all("invoice")
        )
        if not still_open:
            previous = sub["status"]
            sub["status"] = "active"
            ctx.emit("customer.subscription.updated", sub, {"status": previous})


def _subscription_id(inv: dict[str, Any]) -> str | None:
    parent = inv["parent"]
    return (
        parent["subscription_details"]["subscription"]
        if parent and parent.get("subscription_details")
        else None
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
    inv = new_invoice(
        ctx,
        cus,
        lines=[],
        currency=currency,
        billing_reason="manual",
        collection_method=method,
        days_until_due=days,
        auto_advance=take_bool(params, "auto_advance") or False,
    )
    _apply(
        ctx,
        inv,
        {
            k: v
            for k, v in params.items()
            if k in ("description", "footer", "metadata", "default_payment_method")
        },
    )
    from stripe_emulator.resources.invoice_items import add_to_invoice

    for ii in pending:
        add_to_invoice(ctx, ii, inv)
    return inv


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
        and (subscription is None or _subscription_id(i) == subscription)
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
