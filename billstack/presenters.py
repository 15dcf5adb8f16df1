"""Turn the portal view model into display rows for one locale (pure functions).

The Reflex state holds these rows; keeping the formatting here makes it testable
without a browser and keeps the state class thin.
"""

from __future__ import annotations

from dataclasses import dataclass

from billstack.i18n import (
    card_brand_label,
    country_name,
    format_card_expiry,
    format_day,
    format_interval,
    format_money,
    format_percent,
    t,
    tn,
)
from billstack.services.setting_checks import safe_colour, safe_link
from billstack.services.views import (
    DEFAULT_ACCENT_COLOR,
    LIVE_STATUSES,
    AddressView,
    InvoiceView,
    PaymentMethodView,
    PlanChangePreview,
    PlanList,
    PlanView,
    RetentionOfferView,
    SubscriptionView,
    TaxIdView,
)

# Radix colour per status: green = fine, amber = needs attention, gray = over.
STATUS_COLORS = {
    "active": "green",
    "trialing": "blue",
    "past_due": "amber",
    "unpaid": "red",
    "canceled": "gray",
    "incomplete": "amber",
    "incomplete_expired": "gray",
    "paused": "gray",
    "paid": "green",
    "open": "amber",
    "void": "gray",
    "uncollectible": "red",
    "draft": "gray",
}


@dataclass
class SubscriptionRow:
    id: str = ""
    product: str = ""
    price: str = ""
    quantity: str = ""
    status_label: str = ""
    status_color: str = "gray"
    period_line: str = ""
    period_end: str = ""
    cancel_pending: bool = False
    can_cancel: bool = False
    can_resume: bool = False
    price_id: str = ""
    quantity_value: int = 1
    can_change_plan: bool = False
    scheduled_line: str = ""  # "Changes to Pro on Jan 3, 2027": a change waiting for the period end
    can_keep_plan: bool = False
    next_payment: str = ""  # "Next payment: $49.00 on Jan 3, 2027", from Stripe's invoice preview
    discount_line: str = ""  # "Discount: 20% off until Mar 3, 2027"
    pause_line: str = ""  # "Paused until Feb 1, 2027" / "Payments paused"
    can_pause: bool = False
    can_unpause: bool = False
    can_add_promotion_code: bool = False


@dataclass
class InvoiceRow:
    id: str = ""
    number: str = ""
    date: str = ""
    amount: str = ""
    status_label: str = ""
    status_color: str = "gray"
    pdf_url: str = ""
    pay_url: str = ""
    download_label: str = ""
    pay_label: str = ""


@dataclass
class CardRow:
    id: str = ""
    title: str = ""
    expiry: str = ""
    is_default: bool = False


def subscription_row(
    sub: SubscriptionView, locale: str, *, allow_cancel: bool, allow_resume: bool, allow_plan_change: bool = False,
    allow_pause: bool = False, allow_promotion_code: bool = False,
) -> SubscriptionRow:
    live = sub.status in LIVE_STATUSES
    paused = live and sub.pause_collection is not None
    scheduled = sub.scheduled_change
    end = format_day(sub.cancel_at or sub.current_period_end, locale)
    if sub.status == "canceled":
        period_line = t(locale, "subs.canceled_on", date=format_day(sub.canceled_at, locale)) if sub.canceled_at else t(locale, "subs.ended")
    elif sub.cancel_at_period_end or sub.cancel_at:
        period_line = t(locale, "subs.cancels_on", date=end)
    else:
        period_line = t(locale, "subs.renews_on", date=format_day(sub.current_period_end, locale))
    price = format_money(sub.unit_amount, sub.currency, locale)
    interval = format_interval(sub.interval, sub.interval_count, locale)
    status_label, status_color = _status_badge(sub, locale)
    return SubscriptionRow(
        id=sub.id,
        product=_product_title(sub),
        price=f"{price} {interval}".strip(),
        quantity=t(locale, "subs.quantity", quantity=sub.quantity) if sub.quantity > 1 else "",
        status_label=status_label,
        status_color=status_color,
        period_line=period_line,
        period_end=end,
        cancel_pending=sub.cancel_at_period_end,
        can_cancel=allow_cancel and live and not sub.cancel_at_period_end,
        can_resume=allow_resume and live and sub.cancel_at_period_end,
        price_id=sub.price_id or "",
        quantity_value=sub.quantity,
        # One change at a time: a waiting change is kept or dropped before another is chosen.
        can_change_plan=allow_plan_change and live and not sub.cancel_at_period_end and scheduled is None,
        scheduled_line=t(
            locale, "subs.changes_to", plan=plan_label(scheduled.product_name, scheduled.quantity, locale),
            date=format_day(scheduled.at, locale),
        ) if scheduled is not None else "",
        can_keep_plan=allow_plan_change and live and scheduled is not None,
        next_payment=_next_payment(sub, locale) if live else "",
        discount_line=_discount_line(sub, locale) if live else "",
        pause_line=_pause_line(sub, locale) if paused else "",
        can_pause=allow_pause and live and not paused and not sub.cancel_at_period_end,
        can_unpause=allow_pause and paused,
        can_add_promotion_code=allow_promotion_code and live and not sub.cancel_at_period_end,
    )


def discount_off(percent_off: float | None, amount_off: int | None, currency: str, locale: str) -> str:
    """A coupon's terms: "20% off", "$5.00 off" ("" when it has neither)."""
    if percent_off is not None:
        return t(locale, "coupon.percent_off", percent=format_percent(percent_off, locale))
    if amount_off is not None:
        return t(locale, "coupon.amount_off", amount=format_money(amount_off, currency, locale))
    return ""


def _discount_line(sub: SubscriptionView, locale: str) -> str:
    discount = sub.discount
    off = discount_off(discount.percent_off, discount.amount_off, sub.currency, locale) if discount else ""
    if discount is None or not off:
        return ""
    if discount.end is not None:
        return t(locale, "subs.discount_until", off=off, date=format_day(discount.end, locale))
    return t(locale, "subs.discount", off=off)


def _pause_line(sub: SubscriptionView, locale: str) -> str:
    pause = sub.pause_collection
    if pause is not None and pause.resumes_at is not None:
        return t(locale, "subs.paused_until", date=format_day(pause.resumes_at, locale))
    return t(locale, "subs.paused")


def retention_offer_text(offer: RetentionOfferView, locale: str) -> str:
    """The retention coupon's terms: "20% off for 3 months", "$5.00 off your next invoice"."""
    if offer.percent_off is not None:
        kind, values = "percent", {"percent": format_percent(offer.percent_off, locale)}
    else:
        kind, values = "amount", {"amount": format_money(offer.amount_off or 0, offer.currency or "usd", locale)}
    if offer.duration == "repeating" and offer.duration_in_months:
        return tn(locale, f"retain.{kind}_repeating", offer.duration_in_months, **values)
    return t(locale, f"retain.{kind}_{'forever' if offer.duration == 'forever' else 'once'}", **values)


def _next_payment(sub: SubscriptionView, locale: str) -> str:
    upcoming, pause = sub.next_invoice, sub.pause_collection
    if upcoming is None:
        return ""
    if pause is not None and (pause.resumes_at is None or pause.resumes_at > upcoming.date):
        return ""  # paused then: that invoice is not charged
    return t(locale, "subs.next_payment", amount=format_money(upcoming.amount_due, upcoming.currency, locale),
             date=format_day(upcoming.date, locale))


def _status_badge(sub: SubscriptionView, locale: str) -> tuple[str, str]:
    """The badge says what happens next, as Stripe's does: a live subscription that is set to
    end reads "Cancels <date>" (never "Active"), a trial "Trial ends <date>"; past due,
    paused and the rest say their status."""
    live = sub.status in LIVE_STATUSES
    end = sub.cancel_at or (sub.current_period_end if sub.cancel_at_period_end else None)
    if live and end is not None:
        return t(locale, "status.cancels", date=format_day(end, locale)), "orange"
    if live and sub.pause_collection is not None:  # Stripe's status stays active: its payments are what pause
        return t(locale, "status.paused"), STATUS_COLORS["paused"]
    if sub.status == "trialing" and sub.current_period_end is not None:
        # Stripe ends a trial's period at trial_end.
        return t(locale, "status.trial_ends", date=format_day(sub.current_period_end, locale)), STATUS_COLORS["trialing"]
    return t(locale, f"status.{sub.status}"), STATUS_COLORS.get(sub.status, "gray")


def _product_title(sub: SubscriptionView) -> str:
    """`Pro` or `Pro · Annual`; a nickname that repeats the product name adds nothing."""
    nickname = (sub.price_nickname or "").strip()
    if not nickname or sub.product_name.lower() in nickname.lower():
        return sub.product_name
    return f"{sub.product_name} · {nickname}"


def invoice_row(invoice: InvoiceView, locale: str) -> InvoiceRow:
    number = invoice.number or invoice.id
    return InvoiceRow(
        id=invoice.id,
        number=number,
        date=format_day(invoice.created, locale),
        amount=format_money(invoice.total, invoice.currency, locale),
        status_label=t(locale, f"status.{invoice.status}"),
        status_color=STATUS_COLORS.get(invoice.status, "gray"),
        pdf_url=safe_link(invoice.invoice_pdf) or "",
        pay_url=(safe_link(invoice.hosted_invoice_url) or "") if invoice.status == "open" else "",
        download_label=t(locale, "inv.download_label", number=number),
        pay_label=t(locale, "inv.pay_label", number=number),
    )


def card_row(method: PaymentMethodView, locale: str) -> CardRow:
    expiry = format_card_expiry(method.exp_month, method.exp_year)
    return CardRow(
        id=method.id,
        title=t(locale, "pm.card_ending", brand=card_brand_label(method.brand), last4=method.last4 or "????"),
        expiry=t(locale, "pm.expires", date=expiry) if expiry else "",
        is_default=method.is_default,
    )


# --- billing details ---------------------------------------------------------------------


@dataclass
class TaxIdRow:
    id: str = ""
    type_label: str = ""  # "EU VAT"
    value: str = ""
    status_label: str = ""  # "Verified", "Pending verification" …
    status_color: str = "gray"
    remove_label: str = ""  # "Remove EU VAT DE123456789", for screen readers


# Radix colour per tax id verification status.
_VERIFICATION_COLORS = {"verified": "green", "pending": "amber", "unverified": "red", "unavailable": "gray"}


def tax_id_row(tax_id: TaxIdView, locale: str) -> TaxIdRow:
    status = tax_id.verification.status
    type_label = t(locale, f"taxid.type.{tax_id.type}")
    return TaxIdRow(
        id=tax_id.id,
        type_label=type_label,
        value=tax_id.value,
        status_label=t(locale, f"taxid.status.{status}"),
        status_color=_VERIFICATION_COLORS.get(status, "gray"),
        remove_label=t(locale, "taxid.remove_label", tax_id=f"{type_label} {tax_id.value}"),
    )


def address_lines(address: AddressView | None, locale: str) -> list[str]:
    """A postal address as lines (street, city line, state, country in the customer's language)."""
    if address is None:
        return []
    city_line = " ".join(part for part in (address.postal_code, address.city) if part)
    country = country_name(address.country, locale) if address.country else ""
    return [line for line in (address.line1, address.line2, city_line, address.state, country) if line]



# --- plan changes ------------------------------------------------------------------------

# Shortest billing period first in the picker's switch (monthly before yearly).
_INTERVAL_ORDER = {"day": 0, "week": 1, "month": 2, "year": 3}


@dataclass
class PlanRow:
    price_id: str = ""
    product: str = ""
    description: str = ""
    price: str = ""  # "$49.00 per month"
    cycle: str = ""  # which billing-period switch position shows it (`cycle_key`)
    current: bool = False


@dataclass
class CycleChoice:
    key: str = ""
    label: str = ""  # "Monthly", "Yearly", "Every 3 months"


@dataclass
class PreviewLineRow:
    label: str = ""
    amount: str = ""
    credit: bool = False


@dataclass
class PreviewSummary:
    """The confirmation step: the new plan, what is due today, and what comes next."""

    plan: str = ""  # "Pro · Qty 3"
    price: str = ""  # "$99.00 per month"
    due_today: str = ""
    next_line: str = ""  # "Then $99.00 per month from Jan 3, 2027" / "Next invoice on …: …"
    scheduled_line: str = ""  # a change at the period end: "Changes to Pro on …; nothing is charged today."


def plan_label(product: str, quantity: int, locale: str) -> str:
    """`Pro`, or `Pro · Qty 3` for more than one."""
    return f"{product} · {t(locale, 'subs.quantity', quantity=quantity)}" if quantity > 1 else product


def cycle_key(interval: str, interval_count: int) -> str:
    return interval if interval_count <= 1 else f"{interval_count}-{interval}"


def plan_rows(plans: PlanList, locale: str) -> list[PlanRow]:
    return [
        PlanRow(
            price_id=plan.price_id,
            product=plan.product_name,
            description=(plan.description or "").strip(),
            price=_price_per_interval(plan, locale),
            cycle=cycle_key(plan.interval, plan.interval_count),
            current=plan.current,
        )
        for plan in plans.data
    ]


def cycle_choices(plans: PlanList, locale: str) -> list[CycleChoice]:
    """The billing periods the plans come in, shortest first (one entry: no switch needed)."""
    periods = sorted(
        {(plan.interval, plan.interval_count) for plan in plans.data},
        key=lambda period: (_INTERVAL_ORDER.get(period[0], 9), period[1]),
    )
    return [CycleChoice(key=cycle_key(*period), label=_cycle_label(*period, locale)) for period in periods]


def preview_lines(preview: PlanChangePreview, *, current_product: str, new_plan: str, locale: str) -> list[PreviewLineRow]:
    """Stripe's prorations in the customer's language: a credit for the unused time on the
    current plan (negative), a charge for the new plan from today."""
    return [
        PreviewLineRow(
            label=t(locale, "plans.line_credit", plan=current_product)
            if line.amount < 0
            else t(locale, "plans.line_charge", plan=new_plan),
            amount=format_money(line.amount, preview.currency, locale),
            credit=line.amount < 0,
        )
        for line in preview.lines
    ]


def preview_summary(preview: PlanChangePreview, plan: PlanView, locale: str) -> PreviewSummary:
    label = plan_label(plan.product_name, preview.quantity, locale)
    interval = format_interval(plan.interval, plan.interval_count, locale)
    regular = plan.unit_amount * preview.quantity
    next_date = format_day(preview.next_date, locale)
    if preview.next_amount == regular:
        next_line = t(locale, "plans.then", amount=format_money(regular, plan.currency, locale), interval=interval, date=next_date)
    else:  # prorations wait for the next invoice: say what it will be, not a regular amount
        next_line = t(locale, "plans.next_invoice", amount=format_money(preview.next_amount, preview.currency, locale), date=next_date)
    return PreviewSummary(
        plan=label,
        price=_price_per_interval(plan, locale),
        due_today=format_money(preview.amount_due, preview.currency, locale),
        next_line=next_line,
        scheduled_line=t(locale, "plans.scheduled", plan=label, date=next_date) if preview.applies_at == "period_end" else "",
    )


def _price_per_interval(plan: PlanView, locale: str) -> str:
    money = format_money(plan.unit_amount, plan.currency, locale)
    return f"{money} {format_interval(plan.interval, plan.interval_count, locale)}".strip()


def _cycle_label(interval: str, count: int, locale: str) -> str:
    if count <= 1:
        return t(locale, f"plans.cycle.{interval}")
    return tn(locale, f"plans.cycle.every.{interval}", count)


def readable_text_on(hex_colour: str) -> str:
    """Black or white, whichever reads better on the accent colour (WCAG luminance)."""
    rgb = _rgb(hex_colour)
    if rgb is None:
        return "#ffffff"
    luminance = _luminance(rgb)
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"


# Links are text: they take the accent's hue, darkened (light theme) or lightened (dark
# theme) just enough to read at WCAG AA (4.5:1) on the page's and the cards' backgrounds.
LINK_CONTRAST = 4.6
_LIGHT_BACKGROUND = (255, 255, 255)
_DARK_BACKGROUND = (0x2B, 0x2D, 0x31)  # lighter than any dark-theme panel the links sit on


def link_colours(hex_colour: str) -> tuple[str, str]:
    """(light theme, dark theme) link colour for the accent `hex_colour`."""
    rgb = _rgb(hex_colour) or _rgb(DEFAULT_ACCENT_COLOR)
    return _mix_until_readable(rgb, (0, 0, 0), _LIGHT_BACKGROUND), _mix_until_readable(rgb, (255, 255, 255), _DARK_BACKGROUND)


def _mix_until_readable(rgb: tuple[int, int, int], toward: tuple[int, int, int], background: tuple[int, int, int]) -> str:
    for step in range(21):
        share = step / 20
        mixed = tuple(round(c + (t - c) * share) for c, t in zip(rgb, toward))
        if _contrast(mixed, background) >= LINK_CONTRAST:
            break
    return "#{:02x}{:02x}{:02x}".format(*mixed)


def _rgb(hex_colour: str) -> tuple[int, int, int] | None:
    """The colour of `#rrggbb`, else None (never a guess: `int()` would take `+f`, ` f`)."""
    if safe_colour(hex_colour) != hex_colour:
        return None
    value = hex_colour[1:]
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _luminance(rgb: tuple[int, ...]) -> float:
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in rgb)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)
