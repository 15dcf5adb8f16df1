"""A project's cancellation settings, as Stripe's `features.subscription_cancel` has them, and
its retention offer (a coupon offered once in the cancel flow).

`tenants` applies them from `project create|update`; the portal's cancel service and view
read them through `offered_reasons` and `retention_offer`, so the stored spelling (a comma
list, the coupon's terms in columns) is known here only.
"""

from __future__ import annotations

from dataclasses import dataclass

from billstack import stripe_gateway
from billstack.errors import BillStackError, invalid
from billstack.models import Project
from billstack.services.views import CANCEL_REASONS

CANCEL_MODES = ("at_period_end", "immediately")
CANCEL_PRORATIONS = ("none", "create_prorations")
# The fields `apply_setting` takes (the coupon is separate: it asks Stripe before any write).
SETTING_FIELDS = ("cancel_mode", "cancel_proration", "cancel_reasons")
RETENTION_COUPON = "retention_coupon"
COUPON_DURATIONS = ("once", "repeating", "forever")


@dataclass(frozen=True)
class CouponTerms:
    """What a coupon takes off and for how long, as Stripe described it."""

    coupon_id: str
    percent_off: float | None
    amount_off: int | None
    currency: str | None
    duration: str
    duration_in_months: int | None


def apply_setting(project: Project, field: str, value: object) -> None:
    """One of SETTING_FIELDS, checked (400 naming the option); `check_combination` follows."""
    if field == "cancel_mode":
        project.cancel_mode = _choice(value, CANCEL_MODES, "cancelMode")
    elif field == "cancel_proration":
        project.cancel_proration = _choice(value, CANCEL_PRORATIONS, "cancelProration")
    elif field == "cancel_reasons":
        project.cancel_reasons = ",".join(_checked_reasons(value))
    else:
        raise invalid(f"Unknown cancellation setting {field!r}.", param=field)


def check_combination(project: Project, *, proration_given: bool) -> None:
    """On the settings as they result: Stripe allows `create_prorations` only with
    `mode: immediately` (there is nothing to credit when the period is used to its end)."""
    if project.cancel_proration == "create_prorations" and project.cancel_mode != "immediately":
        if proration_given:
            raise invalid("cancelProration create_prorations requires cancelMode immediately (Stripe credits "
                          "unused time only when a subscription ends now); add --cancel-mode immediately.",
                          param="cancelProration")
        raise invalid("cancelMode at_period_end cannot keep cancelProration create_prorations; "
                      "add --cancel-proration none.", param="cancelMode")


def offered_reasons(project: Project) -> list[str]:
    """The reasons the portal asks for, in Stripe's order ([] = the question is off)."""
    chosen = set(project.cancel_reasons.split(","))
    return [reason for reason in CANCEL_REASONS if reason in chosen]


def describe_coupon(project: Project, value: object) -> CouponTerms | None:
    """The coupon `value` names, checked with Stripe (it exists and is still `valid`); None for
    '' (no offer). Stripe only, no database: asked before anything is written."""
    coupon_id = str(value).strip()
    if not coupon_id:
        return None
    try:
        coupon = stripe_gateway.retrieve_coupon(project, coupon_id)
    except BillStackError as exc:
        if exc.code == "resource_missing":
            raise invalid(f"retentionCoupon: Stripe has no coupon {coupon_id[:64]!r}.",
                          param="retentionCoupon") from exc
        raise
    if not coupon.get("valid", False):
        raise invalid(f"retentionCoupon: coupon {coupon_id[:64]!r} is no longer valid in Stripe "
                      "(expired, used up or deleted).", param="retentionCoupon")
    return CouponTerms(
        coupon_id=coupon["id"],
        percent_off=coupon.get("percent_off"),
        amount_off=coupon.get("amount_off"),
        currency=coupon.get("currency"),
        duration=coupon.get("duration") or "once",
        duration_in_months=coupon.get("duration_in_months"),
    )


def set_retention_coupon(project: Project, terms: CouponTerms | None) -> None:
    """Store the offer's terms (so the portal shows it without asking Stripe), or remove it."""
    project.retention_coupon = terms.coupon_id if terms else None
    project.retention_percent_off = terms.percent_off if terms else None
    project.retention_amount_off = terms.amount_off if terms else None
    project.retention_currency = terms.currency if terms else None
    project.retention_duration = terms.duration if terms else None
    project.retention_duration_in_months = terms.duration_in_months if terms else None


def retention_terms(project: Project) -> CouponTerms | None:
    """The project's retention offer as stored, None when it has none."""
    if not project.retention_coupon:
        return None
    return CouponTerms(
        coupon_id=project.retention_coupon,
        percent_off=project.retention_percent_off,
        amount_off=project.retention_amount_off,
        currency=project.retention_currency,
        duration=project.retention_duration or "once",
        duration_in_months=project.retention_duration_in_months,
    )


def _choice(value: object, choices: tuple[str, ...], param: str) -> str:
    text = str(value).strip()
    if text not in choices:
        raise invalid(f"{param} must be one of {', '.join(choices)}, got {text[:64]!r}.", param=param)
    return text


def _checked_reasons(value: object) -> list[str]:
    """Comma-separated (or a list), kept in Stripe's order; "" turns the question off."""
    names = value if isinstance(value, list | tuple) else str(value).split(",")
    given = [str(name).strip().lower() for name in names if str(name).strip()]
    if unknown := [name for name in dict.fromkeys(given) if name not in CANCEL_REASONS]:
        raise invalid(f"cancelReasons: unknown reason(s) {', '.join(repr(n[:64]) for n in unknown)}; choose from "
                      f"{','.join(CANCEL_REASONS)} (comma-separated, or '' to not ask).", param="cancelReasons")
    return [reason for reason in CANCEL_REASONS if reason in given]
