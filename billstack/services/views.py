"""What the portal shows, as plain data: the one view model behind both the Reflex page
and the portal REST API (which serialises it with camelCase keys).

Money stays in minor units with its currency and times stay aware UTC datetimes;
formatting for the session's locale happens at the edge (billstack/i18n.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from billstack.clock import to_iso_z


@dataclass(frozen=True)
class Branding:
    display_name: str
    logo_url: str | None
    accent_color: str
    support_email: str | None
    support_url: str | None
    terms_url: str | None
    privacy_url: str | None


@dataclass(frozen=True)
class Features:
    cancel: bool
    resume: bool
    invoice_history: bool
    payment_method_update: bool


@dataclass(frozen=True)
class SubscriptionView:
    id: str  # Stripe's sub_…
    status: str  # active, trialing, past_due, canceled, unpaid, incomplete, paused …
    product_name: str
    price_nickname: str | None
    unit_amount: int | None  # minor units
    currency: str
    interval: str | None  # day, week, month, year
    interval_count: int
    quantity: int
    cancel_at_period_end: bool
    current_period_end: datetime | None
    cancel_at: datetime | None
    canceled_at: datetime | None


@dataclass(frozen=True)
class InvoiceView:
    id: str  # Stripe's in_…
    number: str | None
    status: str  # draft, open, paid, void, uncollectible
    created: datetime
    total: int
    amount_due: int
    currency: str
    invoice_pdf: str | None
    hosted_invoice_url: str | None


@dataclass(frozen=True)
class PaymentMethodView:
    id: str  # Stripe's pm_…
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool


@dataclass(frozen=True)
class InvoicePage:
    invoices: list[InvoiceView]
    has_more: bool


@dataclass(frozen=True)
class PortalView:
    session_id: str
    customer_id: str
    customer_email: str | None
    customer_name: str | None
    branding: Branding
    features: Features
    subscriptions: list[SubscriptionView]
    invoices: InvoicePage
    payment_methods: list[PaymentMethodView]
    return_url: str | None
    locale: str
    expires_at: datetime
    flow: dict[str, Any] | None = None
    # When the mirror was last refreshed from Stripe (None: never).
    synced_at: datetime | None = None
    # True when Stripe could not be reached and this is saved data.
    stale: bool = False
    notices: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return to_camel_json(self)


def to_camel_json(value: Any) -> Any:
    """Dataclasses → dicts with camelCase keys; datetimes → `…Z` strings."""
    if hasattr(value, "__dataclass_fields__"):
        return {_camel(k): to_camel_json(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, list):
        return [to_camel_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_camel_json(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return to_iso_z(value)
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
