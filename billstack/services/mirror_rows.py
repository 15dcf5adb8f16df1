"""Stripe JSON → mirror rows: the one mapping from Stripe's objects to the mirror's columns.

Pure functions (no database, no Stripe calls), shared by the full sync and the per-object
writers in services/sync.py (which re-exports them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billstack.clock import from_unix
from billstack.models import Customer, Project

StripeDict = Mapping[str, Any]

# A subscription in these states bills again at its renewal (unless set to end first).
BILLING_STATUSES = ("active", "trialing", "past_due")


@dataclass(frozen=True)
class NextInvoice:
    """What a subscription's next invoice will ask for: Stripe's invoice preview."""

    amount_due: int | None
    date: datetime | None


# A subscription that will not bill again (ending, canceled) or whose preview Stripe refuses.
NO_NEXT_INVOICE = NextInvoice(None, None)


def will_bill_again(stripe_sub: StripeDict) -> bool:
    """Active (or trialing, or retrying a payment) and not set to end before its renewal."""
    if stripe_sub.get("status") not in BILLING_STATUSES or stripe_sub.get("cancel_at_period_end"):
        return False
    items = list((stripe_sub.get("items") or {}).get("data") or [])
    period_end, cancel_at = _period(stripe_sub, items, "current_period_end"), stripe_sub.get("cancel_at")
    return not (cancel_at and period_end and cancel_at <= period_end)


def customer_fields(stripe_customer: StripeDict) -> dict[str, Any]:
    """The customer's mirrored columns from a Stripe customer (a deleted one keeps no default card)."""
    if stripe_customer.get("deleted"):
        return {"default_payment_method_id": None}
    settings = stripe_customer.get("invoice_settings") or {}
    return {
        "email": _clip(stripe_customer.get("email"), 320),
        "name": _clip(stripe_customer.get("name"), 200),
        "phone": _clip(stripe_customer.get("phone"), 40),
        **_address_fields(stripe_customer.get("address")),
        "default_payment_method_id": id_of(settings.get("default_payment_method")),
        # In Stripe's order: a session with locale `auto` shows the first the portal has.
        "preferred_locales": _clip(",".join(stripe_customer.get("preferred_locales") or []), 200) or None,
    }


def _address_fields(address: StripeDict | None) -> dict[str, str | None]:
    """Stripe's `address` (null when never set) as the customer's address columns."""
    address = address or {}
    country = address.get("country")
    return {
        "address_line1": _clip(address.get("line1"), 200),
        "address_line2": _clip(address.get("line2"), 200),
        "address_city": _clip(address.get("city"), 200),
        "address_state": _clip(address.get("state"), 200),
        "address_postal_code": _clip(address.get("postal_code"), 40),
        "address_country": country.upper()[:2] if country else None,
    }


# --- Stripe JSON → mirror rows ---------------------------------------------------------


def subscription_row(
    project: Project, customer: Customer, sub: StripeDict, now: datetime, *, next_invoice: NextInvoice | None = None
) -> dict[str, Any]:
    """`next_invoice` None: not read, the stored next invoice stays (the columns are left out)."""
    items = list((sub.get("items") or {}).get("data") or [])
    # The mirror keeps one price per subscription; the first item carries it (multi-item
    # subscriptions still list every product name).
    first = items[0] if items else {}
    price = first.get("price") or {}
    recurring = price.get("recurring") or {}
    return {
        "project_id": project.id,
        "customer_id": customer.id,
        "stripe_id": sub["id"],
        "status": sub["status"],
        "product_name": _clip(", ".join(_product_names(items)), 500) or "",
        "price_nickname": _clip(price.get("nickname"), 500),
        "unit_amount": price.get("unit_amount"),
        "currency": (price.get("currency") or sub.get("currency") or "usd").lower(),
        "interval": recurring.get("interval"),
        "interval_count": recurring.get("interval_count") or 1,
        "quantity": first.get("quantity") or sub.get("quantity") or 1,
        "cancel_at_period_end": bool(sub.get("cancel_at_period_end")),
        "cancel_at": from_unix(sub.get("cancel_at")),
        "canceled_at": from_unix(sub.get("canceled_at")),
        "current_period_start": from_unix(_period(sub, items, "current_period_start")),
        "current_period_end": from_unix(_period(sub, items, "current_period_end")),
        "default_payment_method_id": id_of(sub.get("default_payment_method")),
        "stripe_item_id": first.get("id"),
        "price_id": id_of(first.get("price")),
        **_scheduled_change(sub, first, _period(sub, items, "current_period_end")),
        **_next_invoice_fields(next_invoice),
        **discount_fields(sub),
        **pause_fields(sub),
        "created": from_unix(sub["created"]),
        "stripe_updated_at": now,
        "synced_at": now,
    }


def _next_invoice_fields(next_invoice: NextInvoice | None) -> dict[str, Any]:
    if next_invoice is None:
        return {}
    return {"next_invoice_amount": next_invoice.amount_due, "next_invoice_date": next_invoice.date}


def discount_fields(sub: StripeDict) -> dict[str, Any]:
    """The discount columns from the subscription's first discount. The gateway reads
    subscriptions with `discounts.source.coupon` and `discounts.promotion_code` expanded (as
    webhooks re-read them), so the coupon's terms and the code the customer typed are there;
    an id left unexpanded only tells that some discount exists, not its terms."""
    discounts = sub.get("discounts") or []
    first = discounts[0] if discounts else None
    if not isinstance(first, Mapping):
        return {"discount_coupon_id": None, "discount_percent_off": None, "discount_amount_off": None,
                "discount_end": None, "discount_promotion_code": None}
    coupon = (first.get("source") or {}).get("coupon") or first.get("coupon")  # `coupon`: API versions before `source`
    promotion_code = first.get("promotion_code")
    return {
        "discount_coupon_id": _clip(id_of(coupon), 255),
        "discount_percent_off": coupon.get("percent_off") if isinstance(coupon, Mapping) else None,
        "discount_amount_off": coupon.get("amount_off") if isinstance(coupon, Mapping) else None,
        "discount_end": from_unix(first.get("end")),
        "discount_promotion_code": _clip(promotion_code.get("code"), 255) if isinstance(promotion_code, Mapping) else None,
    }


def pause_fields(sub: StripeDict) -> dict[str, Any]:
    """Stripe's `pause_collection` (null when collection is not paused)."""
    pause = sub.get("pause_collection") or {}
    return {"pause_behavior": _clip(pause.get("behavior"), 32), "pause_resumes_at": from_unix(pause.get("resumes_at"))}


# A schedule in these states still has phases to apply; a released, canceled or completed
# one no longer changes anything.
_PENDING_SCHEDULE_STATUSES = ("not_started", "active")


def _scheduled_change(sub: StripeDict, first: StripeDict, period_end: int | None) -> dict[str, Any]:
    """The schedule columns: a phase starting at (or after) the current period's end that
    changes the first item's price or quantity (a plan change waiting for the period end)."""
    schedule = sub.get("schedule")
    fields: dict[str, Any] = {
        "schedule_id": id_of(schedule), "scheduled_price_id": None, "scheduled_quantity": None,
        "scheduled_change_at": None,
    }
    if not isinstance(schedule, Mapping) or schedule.get("status") not in _PENDING_SCHEDULE_STATUSES:
        return fields  # not expanded (then nothing known is waiting) or nothing left to apply
    phases = schedule.get("phases") or []
    upcoming = sorted(
        (phase for phase in phases if period_end and (phase.get("start_date") or 0) >= period_end),
        key=lambda phase: phase["start_date"],
    )
    phase_items = (upcoming[0].get("items") or []) if upcoming else []
    if not phase_items:
        return fields
    price_id, quantity = id_of(phase_items[0].get("price")), phase_items[0].get("quantity") or 1
    if (price_id, quantity) == (id_of(first.get("price")), first.get("quantity") or 1):
        return fields  # the next phase goes on as now
    fields.update(scheduled_price_id=price_id, scheduled_quantity=quantity,
                  scheduled_change_at=from_unix(upcoming[0]["start_date"]))
    return fields


def invoice_row(project: Project, customer: Customer, invoice: StripeDict, now: datetime) -> dict[str, Any]:
    return {
        "project_id": project.id,
        "customer_id": customer.id,
        "stripe_id": invoice["id"],
        "number": invoice.get("number"),
        "status": invoice.get("status") or "draft",
        "currency": (invoice.get("currency") or "usd").lower(),
        "total": invoice.get("total") or 0,
        "amount_due": invoice.get("amount_due") or 0,
        "amount_paid": invoice.get("amount_paid") or 0,
        "invoice_pdf": _clip(invoice.get("invoice_pdf"), 2000),
        "hosted_invoice_url": _clip(invoice.get("hosted_invoice_url"), 2000),
        "subscription_stripe_id": _invoice_subscription(invoice),
        "description": _clip(_first_line_description(invoice), 500),
        "due_date": from_unix(invoice.get("due_date")),
        "created": from_unix(invoice["created"]),
        "synced_at": now,
    }


def payment_method_row(
    project: Project, customer: Customer, method: StripeDict, now: datetime
) -> dict[str, Any]:
    card = method.get("card") or {}
    return {
        "project_id": project.id,
        "customer_id": customer.id,
        "stripe_id": method["id"],
        "type": method.get("type") or "card",
        "brand": card.get("brand"),
        "last4": card.get("last4"),
        "exp_month": card.get("exp_month"),
        "exp_year": card.get("exp_year"),
        "created": from_unix(method["created"]),
        "synced_at": now,
    }


def tax_id_row(project: Project, customer: Customer, tax_id: StripeDict, now: datetime) -> dict[str, Any]:
    verification = tax_id.get("verification") or {}
    return {
        "project_id": project.id,
        "customer_id": customer.id,
        "stripe_id": tax_id["id"],
        "type": _clip(tax_id.get("type"), 32) or "unknown",
        "value": _clip(tax_id.get("value"), 100) or "",
        "verification_status": verification.get("status") or "unavailable",
        "created": from_unix(tax_id.get("created")) or now,
        "synced_at": now,
    }


def id_of(value: Any) -> str | None:
    """An expandable field is either an id or the expanded object."""
    if isinstance(value, Mapping):
        return value.get("id")
    return value or None


def _product_names(items: Iterable[StripeDict]) -> list[str]:
    names: list[str] = []
    for item in items:
        price = item.get("price") or {}
        product = price.get("product")
        # Unexpanded (a bare id, as in webhook payloads): no name; the upsert keeps the old one.
        name = product.get("name") if isinstance(product, Mapping) else None
        if name and name not in names:
            names.append(name)
    return names


def _period(sub: StripeDict, items: list[StripeDict], field: str) -> int | None:
    """Since API 2025-03-31 periods live on items; the earliest end is the next renewal."""
    stamps = [item[field] for item in items if item.get(field)]
    if stamps:
        return min(stamps)
    return sub.get(field)


def _first_line_description(invoice: StripeDict) -> str | None:
    """What the invoice is for: its first line item's description (Stripe lists the lines
    with the invoice, up to 10); the invoice's own memo when it has no lines."""
    lines = (invoice.get("lines") or {}).get("data") or []
    first = lines[0].get("description") if lines else None
    return first or invoice.get("description") or None


def _invoice_subscription(invoice: StripeDict) -> str | None:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    # `invoice.subscription` is where API versions before 2025-03-31 put it.
    return id_of(details.get("subscription")) or id_of(invoice.get("subscription"))


def _clip(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]
