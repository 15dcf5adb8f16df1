"""The invoice lifecycle steps the API and subscriptions share: create a draft, add or remove
invoice items, finalize (number it), attempt payment, mark paid (which may reactivate the
subscription).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stripe_emulator.context import Ctx
from stripe_emulator.errors import StripeError
from stripe_emulator.ids import new_id, random_text
from stripe_emulator.operations.customers import customer_tax_ids
from stripe_emulator.operations.discounts import apply_to_invoice
from stripe_emulator.operations.payment_methods import charge
from stripe_emulator.render import RenderCtx, copy_json

DAY = 86400

# Called as hook(ctx, invoice) once an invoice is paid. The layers above register here (a
# subscription's pending update applies when its invoice is paid); this module cannot import them.
PAID_HOOKS: list[Callable[[Ctx, dict[str, Any]], None]] = []


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
    proration: bool = False,
    unit_amount_decimal: str | None = None,
) -> dict[str, Any]:
    if subscription_item is not None:
        parent = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
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
                "proration": proration,
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
            "unit_amount_decimal": unit_amount_decimal
            or str(unit_amount if unit_amount is not None else amount),
        },
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "subscription": subscription,
        "subtotal": amount,
        "taxes": [],
    }


def store_invoice(ctx: Ctx, cus: dict[str, Any], inv: dict[str, Any]) -> dict[str, Any]:
    """Keep a draft from `build_invoice`: stored, its hosted page published, `invoice.created`."""
    if cus["currency"] is None:
        cus["currency"] = inv["currency"]
    ctx.account.add(inv)
    ctx.store.publish(inv["_token"], ctx.account, inv["id"])
    ctx.emit("invoice.created", inv)
    return inv


def build_invoice(
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
    inv_id: str | None = None,
    coupons: list[tuple[str, dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """A draft invoice, not stored (an invoice preview is one that never is); `coupons` are
    the (discount id, coupon) pairs it is discounted by."""
    now = at if at is not None else ctx.now()
    inv_id = inv_id or new_id("in")
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
        **customer_details(ctx, cus),
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
        "_coupons": coupons or [],
    }
    apply_to_invoice(inv)
    return inv


def recompute(inv: dict[str, Any]) -> None:
    """Totals from the lines and discounts (after adding or removing a line on a draft)."""
    apply_to_invoice(inv)


def invoice_tax_ids(ctx: RenderCtx, cus_id: str) -> list[dict[str, Any]]:
    """An invoice's `customer_tax_ids`: each of the customer's tax ids as `{type, value}`."""
    return [{"type": t["type"], "value": t["value"]} for t in customer_tax_ids(ctx, cus_id)]


def customer_details(ctx: RenderCtx, cus: dict[str, Any]) -> dict[str, Any]:
    """The invoice's `customer_*` fields as the customer is now: a draft shows them live, and
    finalization copies them onto the invoice for good, as Stripe does."""
    return {
        "customer_email": cus["email"],
        "customer_name": cus["name"],
        "customer_phone": cus["phone"],
        "customer_address": copy_json(cus["address"]),
        "customer_shipping": copy_json(cus["shipping"]),
        "customer_tax_exempt": cus["tax_exempt"],
        "customer_tax_ids": invoice_tax_ids(ctx, cus["id"]),
    }


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
    inv.update(customer_details(ctx, cus))
    if inv["collection_method"] == "send_invoice":
        inv["due_date"] = now + DAY * (inv["_days_until_due"] if inv["_days_until_due"] is not None else 30)
    ctx.emit("invoice.finalized", inv)
    if inv["amount_due"] == 0:
        mark_paid(ctx, inv, at=now)
    return inv


def payment_method_for(ctx: Ctx, inv: dict[str, Any]) -> dict[str, Any] | None:
    """The invoice's own default, else its subscription's, else the customer's."""
    sub = ctx.account.get("subscription", subscription_id(inv))
    sub_default = sub["default_payment_method"] if sub is not None else None
    return _first_payment_method(ctx, inv["default_payment_method"], sub_default, inv["customer"])


def payment_method_for_subscription(ctx: Ctx, sub: dict[str, Any]) -> dict[str, Any] | None:
    """What the subscription's invoices are charged to: its default, else the customer's."""
    return _first_payment_method(ctx, None, sub["default_payment_method"], sub["customer"])


def _first_payment_method(
    ctx: Ctx, invoice_default: str | None, sub_default: str | None, customer_id: str
) -> dict[str, Any] | None:
    candidates = [invoice_default, sub_default]
    cus = ctx.account.get("customer", customer_id)
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
    for hook in PAID_HOOKS:
        hook(ctx, inv)
    sub = ctx.account.get("subscription", subscription_id(inv))
    if sub is not None and not sub.get("_creating") and sub["status"] in ("incomplete", "past_due", "unpaid"):
        still_open = any(
            i["status"] == "open" and subscription_id(i) == sub["id"] for i in ctx.account.all("invoice")
        )
        if not still_open:
            previous = sub["status"]
            sub["status"] = "active"
            ctx.emit("customer.subscription.updated", sub, {"status": previous})


def subscription_id(inv: dict[str, Any]) -> str | None:
    parent = inv["parent"]
    return (
        parent["subscription_details"]["subscription"]
        if parent and parent.get("subscription_details")
        else None
    )


def build_invoice_item(
    *,
    customer: str,
    amount: int,
    currency: str,
    description: str | None,
    quantity: int,
    period: tuple[int, int],
    at: int,
    metadata: dict[str, str] | None = None,
    discountable: bool = True,
    unit_amount_decimal: str | None = None,
    subscription: str | None = None,
    subscription_item: str | None = None,
    proration: bool = False,
) -> dict[str, Any]:
    """An `invoiceitem`, not stored: a one-off charge, or a proration a subscription change left."""
    return {
        "id": new_id("ii"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency.lower(),
        "customer": customer,
        "customer_account": None,
        "date": at,
        "description": description,
        "discountable": discountable,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": metadata or {},
        "net_amount": amount,
        "parent": None
        if subscription is None
        else {
            "subscription_details": {"subscription": subscription, "subscription_item": subscription_item},
            "type": "subscription_details",
        },
        "period": {"end": period[1], "start": period[0]},
        "pricing": {
            "type": "price_details",
            "unit_amount_decimal": unit_amount_decimal or str(amount // max(quantity, 1)),
        },
        "proration": proration,
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "tax_rates": [],
        "test_clock": None,
    }


def item_subscription(ii: dict[str, Any]) -> tuple[str | None, str | None]:
    """(subscription, subscription item) an invoice item belongs to, if any."""
    details = (ii["parent"] or {}).get("subscription_details") or {}
    return details.get("subscription"), details.get("subscription_item")


def invoice_item_line(ctx: Ctx, ii: dict[str, Any], inv_id: str | None) -> dict[str, Any]:
    """The invoice line an invoice item becomes; a subscription item's proration reads, as in
    Stripe, as that item's line (`subscription_item_details`, `invoice_item` set)."""
    subscription, subscription_item = item_subscription(ii)
    line = new_line(
        ctx,
        amount=ii["amount"],
        currency=ii["currency"],
        description=ii["description"],
        period=(ii["period"]["start"], ii["period"]["end"]),
        quantity=ii["quantity"],
        unit_amount_decimal=ii["pricing"]["unit_amount_decimal"],
        subscription=subscription,
        subscription_item=subscription_item,
        invoice_item=ii["id"],
        metadata=dict(ii["metadata"]),
        proration=ii["proration"],
    )
    line["invoice"] = inv_id
    line["discountable"] = ii["discountable"]
    return line


def add_to_invoice(ctx: Ctx, ii: dict[str, Any], inv: dict[str, Any]) -> None:
    if inv["status"] != "draft":
        raise StripeError("You can only add invoice items to draft invoices.", param="invoice")
    ii["invoice"] = inv["id"]
    inv["_lines"].append(invoice_item_line(ctx, ii, inv["id"]))
    recompute(inv)


def remove_from_invoice(ii: dict[str, Any], inv: dict[str, Any]) -> None:
    if inv["status"] != "draft":
        raise StripeError("This invoice item is on a finalized invoice and cannot be deleted.")
    inv["_lines"] = [
        line
        for line in inv["_lines"]
        if _line_item_of(line) != ii["id"]
    ]
    recompute(inv)


def _line_item_of(line: dict[str, Any]) -> str | None:
    parent = line["parent"]
    return (parent["invoice_item_details"] or parent["subscription_item_details"] or {}).get("invoice_item")
