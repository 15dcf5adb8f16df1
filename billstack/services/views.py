"""What the portal shows, as plain data: the one view model behind both the Reflex page
and the portal REST API, which uses these models as its response models directly
(camelCase keys, times as `…Z` strings), so the two can never describe it differently.

Money stays in minor units with its currency and times stay aware UTC datetimes in
Python; formatting for the session's locale happens at the edge (billstack/i18n.py).
The vocabulary both the services and the page need (which subscriptions are live,
which cancellation reasons a customer may give) is defined here too, below both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel

from billstack.clock import to_iso_z
from billstack.models import DEFAULT_ACCENT_COLOR  # noqa: F401 - re-exported for the UI (which never imports models)

# Subscriptions a customer can still cancel, resume or pay for.
LIVE_STATUSES = ("active", "trialing", "past_due")
# Never shown to customers (nor accepted in a deep link): they only ever had an unpaid first invoice.
HIDDEN_SUBSCRIPTION_STATUSES = ("incomplete_expired",)
# Why a customer cancels: Stripe's `cancellation_details[feedback]` values, all of them
# (docs/spec customer-portal.md: the portal offers every one). The page offers each with a
# label `subs.reason.<value>` in every locale.
CANCEL_REASONS = (
    "too_expensive",
    "missing_features",
    "switched_service",
    "unused",
    "customer_service",
    "too_complex",
    "low_quality",
    "other",
)

# The billing details a project may let customers edit (Stripe's
# `features.customer_update.allowed_updates`, without shipping), in the form's order.
CUSTOMER_UPDATE_FIELDS = ("name", "email", "address", "phone", "tax_id")
# The tax id types the portal offers (Stripe's `tax_id.type` values), in the form's order.
TAX_ID_TYPES = ("eu_vat", "gb_vat", "ch_vat", "no_vat", "us_ein", "ca_bn", "au_abn", "in_gst", "br_cnpj", "jp_cn")

ISO_Z_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
# An aware UTC datetime in Python, `2026-03-30T13:00:00Z` in JSON.
IsoZ = Annotated[
    datetime,
    PlainSerializer(to_iso_z, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": ISO_Z_PATTERN}),
]


class View(BaseModel):
    """Immutable; camelCase in JSON (by alias), snake_case in Python (by name)."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
                              serialize_by_alias=True, frozen=True,
                              json_schema_serialization_defaults_required=True)


class Branding(View):
    display_name: str
    logo_url: str | None
    accent_color: str
    support_email: str | None
    support_url: str | None
    terms_url: str | None
    privacy_url: str | None


class Features(View):
    cancel: bool
    resume: bool
    invoice_history: bool
    payment_method_update: bool
    plan_change: bool = Field(default=False, description="Customers may change plan (and quantity, when on).")
    customer_update: list[str] = Field(
        default_factory=list, description="The billing details customers may edit: a subset of name, email, "
        "address, phone, tax_id (Stripe's `allowed_updates`).")
    payment_method_remove: bool = Field(default=False, description="Customers may remove a saved card.")
    pause: bool = Field(default=False, description="Customers may pause payments and resume them.")
    promotion_code: bool = Field(default=False, description="Customers may add a promotion code to a subscription.")


class ScheduledChangeView(View):
    """A plan change that a subscription schedule applies at the period end."""

    price_id: str
    product_name: str = Field(description="The new plan's product (the price id when BillStack does not know it).")
    quantity: int
    at: IsoZ = Field(description="When the change applies: the current period's end.")


class NextInvoiceView(View):
    amount_due: int = Field(description="Minor units of `currency`, from Stripe's invoice preview.")
    currency: str
    date: IsoZ


class DiscountView(View):
    """The subscription's discount (Stripe's first `discounts` entry)."""

    coupon_id: str | None = Field(examples=["SPRING20"])
    percent_off: float | None = Field(examples=[20.0])
    amount_off: int | None = Field(description="Minor units of the subscription's `currency`.")
    end: IsoZ | None = Field(description="When the discount stops (null: it does not end by itself).")
    promotion_code: str | None = Field(examples=["SPRING20"], description="The code the customer entered, if any.")


# Stripe's `pause_collection.behavior` values a customer may choose in the portal
# (`keep_as_draft` stays an operator's choice: it leaves drafts to be dealt with).
PAUSE_BEHAVIORS = ("void", "mark_uncollectible")


class PauseCollectionView(View):
    """Stripe's `pause_collection`: renewals are not charged until `resumesAt` (or a resume)."""

    behavior: str = Field(examples=["void"])  # void, mark_uncollectible, keep_as_draft
    resumes_at: IsoZ | None = Field(description="When collection resumes by itself (null: when the customer resumes).")


class SubscriptionView(View):
    id: str = Field(examples=["sub_1OaBcDeFgHiJkLmN"])  # Stripe's sub_…
    status: str = Field(examples=["active"])  # active, trialing, past_due, canceled, unpaid, incomplete, paused …
    product_name: str
    price_nickname: str | None
    unit_amount: int | None = Field(description="Minor units of `currency` (cents; yen for JPY).")
    currency: str = Field(examples=["usd"])
    interval: str | None = Field(examples=["month"])  # day, week, month, year
    interval_count: int
    quantity: int
    cancel_at_period_end: bool
    current_period_end: IsoZ | None
    cancel_at: IsoZ | None
    canceled_at: IsoZ | None
    price_id: str | None = Field(default=None, examples=["price_1OaBcDeFgHiJkLmN"])  # the first item's
    scheduled_change: ScheduledChangeView | None = Field(
        default=None, description="A plan change waiting for the period end (set with `appliesAt: period_end`).")
    next_invoice: NextInvoiceView | None = Field(
        default=None, description="The next payment: what the next invoice will ask for, and when.")
    discount: DiscountView | None = Field(default=None, description="A coupon or promotion code on the subscription.")
    pause_collection: PauseCollectionView | None = Field(
        default=None, description="Payments paused (Stripe's `pause_collection`); null when collected as usual.")


class InvoiceView(View):
    id: str = Field(examples=["in_1OaBcDeFgHiJkLmN"])  # Stripe's in_…
    number: str | None
    status: str = Field(examples=["paid"])  # draft, open, paid, void, uncollectible
    created: IsoZ
    total: int
    amount_due: int
    currency: str
    invoice_pdf: str | None = Field(description="Stripe's PDF link.")
    hosted_invoice_url: str | None = Field(description="Stripe's hosted page, where open invoices are paid.")
    description: str | None = Field(default=None, description="What the invoice is for: its first line item's description.")
    due_date: IsoZ | None = Field(default=None, description="When payment is due (invoices sent to be paid).")


class PaymentMethodView(View):
    id: str = Field(examples=["pm_1OaBcDeFgHiJkLmN"])  # Stripe's pm_…
    brand: str | None = Field(examples=["visa"])
    last4: str | None = Field(examples=["4242"])
    exp_month: int | None
    exp_year: int | None
    is_default: bool


class AddressView(View):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = Field(default=None, examples=["DE"], description="ISO 3166-1 alpha-2.")


class TaxIdVerification(View):
    status: str = Field(examples=["pending"])  # pending, verified, unverified, unavailable


class TaxIdView(View):
    id: str = Field(examples=["txi_1OaBcDeFgHiJkLmN"])  # Stripe's txi_…
    type: str = Field(examples=["eu_vat"])
    value: str = Field(examples=["DE123456789"])
    verification: TaxIdVerification


class CustomerDetails(View):
    name: str | None
    email: str | None
    phone: str | None
    address: AddressView | None
    tax_ids: list[TaxIdView]


class CustomerView(View):
    id: str = Field(examples=["pc_1a2b3c"])
    details: CustomerDetails


class DeletedView(View):
    """What a removal answers, as Stripe's deletions do: the id, and that it is gone."""

    id: str = Field(examples=["txi_1OaBcDeFgHiJkLmN"])
    deleted: Literal[True] = True


class InvoicePage(View):
    invoices: list[InvoiceView]
    has_more: bool = Field(description="Ask again with `startingAfter` = the last id for more.")


class RetentionOfferView(View):
    """The project's retention coupon, offered once in the cancel flow instead of cancelling."""

    coupon_id: str = Field(examples=["STAY20"])
    percent_off: float | None = Field(examples=[20.0])
    amount_off: int | None = Field(description="Minor units of `currency` (an amount-off coupon).")
    currency: str | None
    duration: str = Field(examples=["repeating"])  # once, repeating, forever
    duration_in_months: int | None = Field(examples=[3])
    subscription_ids: list[str] = Field(
        description="The subscriptions it is offered for: live ones without a discount (a retained "
        "subscription is not offered it again). Accept with POST …/subscriptions/{id}/retention.")


class CancellationView(View):
    """How a cancel works in this portal (Stripe's `features.subscription_cancel`)."""

    mode: Literal["at_period_end", "immediately"] = Field(
        description="at_period_end: ends at the period end and can be resumed until then; immediately: "
        "ends now and cannot be resumed.")
    proration_behavior: Literal["none", "create_prorations"] = Field(
        description="create_prorations (immediately only): the unused time is credited to the customer's balance.")
    reasons: list[str] = Field(
        description="The reasons offered (Stripe's `cancellation_details.feedback` values); empty: the "
        "question is off and a `reason` is refused.")
    comment_max_length: int = Field(description="Longest free-text comment accepted.")
    retention: RetentionOfferView | None = Field(
        default=None, description="The retention offer, when one applies to at least one subscription.")


class PortalView(View):
    session_id: str
    customer_id: str
    customer_email: str | None
    customer_name: str | None
    customer: CustomerView | None = Field(default=None, description="The customer and their billing details.")
    branding: Branding
    features: Features
    subscriptions: list[SubscriptionView]
    invoices: InvoicePage
    payment_methods: list[PaymentMethodView]
    amount_due: list[InvoiceView] = Field(
        default_factory=list,
        description="Open invoices with an amount due, oldest due first; filled even when invoice history is off.",
    )
    return_url: str | None
    locale: str = Field(examples=["pt-BR"], description="The page's language, one of the 46 supported tags: the "
                        "session's own, or for `auto` the Stripe customer's preferred_locales, then this request's "
                        "Accept-Language, then `en`.")
    expires_at: IsoZ
    flow: dict[str, Any] | None = None
    synced_at: IsoZ | None = Field(default=None, description="When the data was last read from Stripe.")
    stale: bool = Field(default=False, description="true: Stripe could not be reached; this is saved data.")
    notices: list[str] = Field(default_factory=list)
    cancellation: CancellationView | None = Field(
        default=None, description="Cancel settings (null when cancelling is turned off).")


# --- plan changes ----------------------------------------------------------------------------

# When a plan change takes effect: at once (prorated as the project says), or at the period
# end (Stripe's `schedule_at_period_end` conditions).
AppliesAt = Literal["now", "period_end"]


class PlanView(View):
    price_id: str = Field(examples=["price_1OaBcDeFgHiJkLmN"])
    product_id: str = Field(examples=["prod_1OaBcDeFgHiJkLmN"])
    product_name: str
    description: str | None
    unit_amount: int = Field(description="Minor units of `currency`, per `intervalCount` × `interval`.")
    currency: str
    interval: str = Field(examples=["month"])
    interval_count: int
    current: bool = Field(description="The subscription's price now.")


class QuantityRule(View):
    enabled: bool
    min: int
    max: int | None


class PlanList(View):
    data: list[PlanView] = Field(description="The prices a customer may switch between, in the project's order.")
    quantity: QuantityRule


class PreviewLine(View):
    description: str
    amount: int = Field(description="Minor units; a credit for unused time is negative.")


class PlanChangePreview(View):
    amount_due: int = Field(description="What the customer pays today, in minor units (0 when nothing is charged now).")
    currency: str
    proration_date: int = Field(description="Unix seconds. PATCH the change with it to be charged exactly this.")
    lines: list[PreviewLine] = Field(description="Prorations: credit for unused time, charge for the remaining time.")
    next_amount: int = Field(description="The next regular invoice's amount (prorations left for it included).")
    next_date: IsoZ = Field(description="When that invoice comes: the period's end, or the new period's.")
    applies_at: AppliesAt
    price_id: str
    quantity: int


class CheckoutRedirect(View):
    id: str = Field(examples=["cs_test_a1b2c3"])  # Stripe's cs_…
    url: str = Field(description="Stripe Checkout (setup mode): send the customer's browser here.")


DeadEndKind = Literal["expired", "revoked", "used", "invalid"]


class DeadEndView(View):
    """What a portal link that no longer opens shows: never any customer data. For a link of
    ours (valid signature) that expired, was revoked or was used in another browser, the project's branding and the way
    back; for anything else (`invalid`), nothing project-specific (a neutral page)."""

    kind: DeadEndKind
    branding: Branding | None
    return_url: str | None
    locale: str
