"""SQLModel tables. Created and upgraded by Alembic migrations (billstack/migrations).

Times are aware UTC datetimes. Public ids carry a type prefix (team_, proj_, key_, pc_,
portal_sess_). Mirror tables (subscription, invoice, payment_method) hold what the
portal reads; Stripe stays the system of record.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from billstack.clock import utcnow

# A project without an accent of its own, and every page that knows no project, use this one.
DEFAULT_ACCENT_COLOR = "#4f46e5"


class Team(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class Project(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=40)
    team_id: str = Field(foreign_key="team.id", index=True, max_length=40)
    name: str = Field(max_length=200)
    # Branding shown in the portal header.
    display_name: str | None = Field(default=None, max_length=200)
    logo_url: str | None = Field(default=None, max_length=2000)
    accent_color: str = Field(default=DEFAULT_ACCENT_COLOR, max_length=20)
    support_email: str | None = Field(default=None, max_length=320)
    support_url: str | None = Field(default=None, max_length=2000)
    terms_url: str | None = Field(default=None, max_length=2000)
    privacy_url: str | None = Field(default=None, max_length=2000)
    # Where "Return to <app>" goes, and which origins a session's returnUrl may use.
    default_return_url: str | None = Field(default=None, max_length=2000)
    allowed_return_origins: str = Field(default="", max_length=4000)  # space-separated
    frame_ancestors: str = Field(default="'none'", max_length=2000)
    # browser | none: `browser` binds a portal link to the first browser that opens it
    # (a cookie whose secret's digest is PortalSession.bound_secret_hash); `none` lets the
    # link work in any browser until it expires.
    link_binding: str = Field(default="browser", max_length=16, sa_column_kwargs={"server_default": "browser"})
    # Feature toggles: off hides the UI and makes the portal API answer 403.
    feature_cancel: bool = True
    feature_resume: bool = True
    feature_invoice_history: bool = True
    feature_payment_method_update: bool = True
    # Plan changes (Stripe's `features.subscription_update`): off by default, as in Stripe.
    # The prices a customer may switch between are the project's PlanPrice rows.
    feature_plan_change: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # none | create_prorations | always_invoice (Stripe's `proration_behavior`).
    proration_behavior: str = Field(
        default="create_prorations", max_length=32, sa_column_kwargs={"server_default": "create_prorations"}
    )
    # Space-separated `schedule_at_period_end.conditions` (decreasing_item_amount,
    # shortening_interval): a change meeting one waits for the period end.
    schedule_at_period_end: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    # Stripe's `default_allowed_updates: [quantity]` with `adjustable_quantity {minimum, maximum}`.
    feature_quantity_change: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    quantity_min: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    quantity_max: int | None = None
    # Stripe's `features.customer_update.allowed_updates`: the billing details a customer may
    # edit, comma-separated, a subset of name,email,address,phone,tax_id ("" = none).
    customer_update_fields: str = Field(
        default="name,email,address,phone,tax_id", max_length=100,
        sa_column_kwargs={"server_default": "name,email,address,phone,tax_id"},
    )
    # Customers may remove a saved card (never the default one while a subscription is live).
    feature_payment_method_remove: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    # Stripe's `features.subscription_cancel`: `mode` at_period_end | immediately, its
    # `proration_behavior` none | create_prorations (immediately only), and
    # `cancellation_reason.options`, comma-separated ("" = the question is not asked).
    cancel_mode: str = Field(default="at_period_end", max_length=16, sa_column_kwargs={"server_default": "at_period_end"})
    cancel_proration: str = Field(default="none", max_length=32, sa_column_kwargs={"server_default": "none"})
    cancel_reasons: str = Field(
        default="too_expensive,missing_features,switched_service,unused,customer_service,too_complex,low_quality,other",
        max_length=200,
        sa_column_kwargs={"server_default": "too_expensive,missing_features,switched_service,unused,"
                                            "customer_service,too_complex,low_quality,other"},
    )
    # Stripe's flow `retention: {type: coupon_offer, coupon_offer: {coupon}}` as a project
    # setting: a coupon offered once in the cancel flow instead of cancelling (None: no offer).
    retention_coupon: str | None = Field(default=None, max_length=255)
    # The coupon's terms as Stripe described them when it was set (the offer is shown
    # without asking Stripe): percent or amount off (in `retention_currency`), and
    # `duration` once | repeating | forever with `duration_in_months`.
    retention_percent_off: float | None = None
    retention_amount_off: int | None = None
    retention_currency: str | None = Field(default=None, max_length=3)
    retention_duration: str | None = Field(default=None, max_length=16)
    retention_duration_in_months: int | None = None
    # Stripe's `features.subscription_pause.enabled`: pause collection and resume.
    feature_pause: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Stripe's `subscription_update.default_allowed_updates: promotion_code`.
    feature_promotion_code: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    # Sealed secrets (see secrets_box); never logged or printed after creation.
    stripe_secret_key_sealed: str = Field(max_length=2000)
    stripe_api_base: str | None = Field(default=None, max_length=2000)
    webhook_secret_sealed: str | None = Field(default=None, max_length=2000)
    # The Stripe webhook endpoint `billstack webhooks register` created (replaced on re-register).
    webhook_endpoint_id: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


class PlanPrice(SQLModel, table=True):
    """A price a customer may switch to (`project update --plan-change-price`), in display
    order, as Stripe described it when it was set: the portal lists plans without asking Stripe."""

    __tablename__ = "plan_price"
    __table_args__ = (sa.UniqueConstraint("project_id", "price_id", name="uq_plan_price_project_price"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="project.id", index=True, max_length=40)
    position: int
    price_id: str = Field(max_length=255)
    product_id: str = Field(max_length=255)
    product_name: str = Field(max_length=500)
    # The price's nickname, else the product's description.
    description: str | None = Field(default=None, max_length=500)
    unit_amount: int
    currency: str = Field(max_length=3)
    interval: str = Field(max_length=16)
    interval_count: int = 1
    synced_at: datetime = Field(default_factory=utcnow)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: str = Field(primary_key=True, max_length=40)
    project_id: str = Field(foreign_key="project.id", index=True, max_length=40)
    key_hash: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=20)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class Customer(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("project_id", "stripe_customer_id", name="uq_customer_project_stripe"),
        # A unique index (SQLite adds one without rebuilding the table). NULLs never collide,
        # on SQLite and PostgreSQL alike: only customers that have an external id are unique.
        sa.Index("uq_customer_project_external", "project_id", "external_id", unique=True),
    )

    id: str = Field(primary_key=True, max_length=40)
    project_id: str = Field(foreign_key="project.id", index=True, max_length=40)
    stripe_customer_id: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=320)
    name: str | None = Field(default=None, max_length=200)
    # The SaaS's own id for this customer (its user id), set through the customers API;
    # cleared when the customer is removed, so the SaaS may use it again.
    external_id: str | None = Field(default=None, max_length=200)
    # Billing details as Stripe holds them (printed on invoices); the customer edits them
    # in the portal when the project allows it.
    phone: str | None = Field(default=None, max_length=40)
    address_line1: str | None = Field(default=None, max_length=200)
    address_line2: str | None = Field(default=None, max_length=200)
    address_city: str | None = Field(default=None, max_length=200)
    address_state: str | None = Field(default=None, max_length=200)
    address_postal_code: str | None = Field(default=None, max_length=40)
    address_country: str | None = Field(default=None, max_length=2)
    default_payment_method_id: str | None = Field(default=None, max_length=255)
    # Stripe's `preferred_locales`, comma-separated in Stripe's order: a session with no locale
    # (or `auto`) shows the first one the portal supports.
    preferred_locales: str | None = Field(default=None, max_length=200)
    # When the mirror of this customer was last refreshed from Stripe.
    synced_at: datetime | None = None
    # Bumped whenever this customer's mirror changes; open portal pages watch it for live updates.
    mirror_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Removed from the project: its portal sessions stop working at once.
    removed_at: datetime | None = None
    # Every portal session of this customer created before this moment is revoked (set on
    # removal, so a later re-link cannot bring old portal links back to life). One column
    # instead of an UPDATE of the customer's sessions, which would need an index on
    # portal_session.customer_id that every session creation pays for.
    sessions_revoked_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class PortalSession(SQLModel, table=True):
    __tablename__ = "portal_session"

    id: str = Field(primary_key=True, max_length=40)
    # Only the primary key is indexed (migration 0003): a token is found by its session id,
    # then its digest compared in constant time; sessions are never listed by project or
    # customer (a customer's are revoked at once through Customer.sessions_revoked_at).
    project_id: str = Field(foreign_key="project.id", max_length=40)
    customer_id: str = Field(foreign_key="customer.id", max_length=40)
    api_key_id: str | None = Field(default=None, max_length=40)
    token_hash: str = Field(max_length=64)
    return_url: str | None = Field(default=None, max_length=2000)
    locale: str = Field(default="en", max_length=16)
    flow: str | None = Field(default=None, max_length=1000)  # JSON
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None
    # Link binding (Project.link_binding): the digest of the secret in the cookie of the
    # browser that first opened the link, and when. NULL until a browser opens it.
    bound_secret_hash: str | None = Field(default=None, max_length=64)
    bound_at: datetime | None = None


class Subscription(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("project_id", "stripe_id", name="uq_subscription_project_stripe"),
        sa.Index("ix_subscription_customer_created", "customer_id", "created"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="project.id", max_length=40)
    customer_id: str = Field(foreign_key="customer.id", max_length=40)
    stripe_id: str = Field(max_length=255)
    status: str = Field(max_length=32)
    product_name: str = Field(default="", max_length=500)
    price_nickname: str | None = Field(default=None, max_length=500)
    unit_amount: int | None = None
    currency: str = Field(default="usd", max_length=3)
    interval: str | None = Field(default=None, max_length=16)
    interval_count: int = 1
    quantity: int = 1
    cancel_at_period_end: bool = False
    cancel_at: datetime | None = None
    canceled_at: datetime | None = None
    current_period_start: datetime | None = None
    current_period_end: datetime | None = None
    default_payment_method_id: str | None = Field(default=None, max_length=255)
    # The first item and its price (a plan change swaps that item's price).
    stripe_item_id: str | None = Field(default=None, max_length=255)
    price_id: str | None = Field(default=None, max_length=255)
    # A change waiting for the period end (a subscription schedule's next phase).
    schedule_id: str | None = Field(default=None, max_length=255)
    scheduled_price_id: str | None = Field(default=None, max_length=255)
    scheduled_quantity: int | None = None
    scheduled_change_at: datetime | None = None
    # What the next invoice will ask for (Stripe's invoice preview), refreshed with the
    # subscription; None for a subscription that will not bill again.
    next_invoice_amount: int | None = None
    next_invoice_date: datetime | None = None
    # The subscription's discount (Stripe's `discounts[0]`, expanded): its coupon's percent
    # or amount off (in the subscription's currency), when it ends (None: forever), and
    # the promotion code the customer entered, if any.
    discount_coupon_id: str | None = Field(default=None, max_length=255)
    discount_percent_off: float | None = None
    discount_amount_off: int | None = None
    discount_end: datetime | None = None
    discount_promotion_code: str | None = Field(default=None, max_length=255)
    # Stripe's `pause_collection`: behavior (void | mark_uncollectible | keep_as_draft) and
    # `resumes_at` (None: paused until the customer resumes).
    pause_behavior: str | None = Field(default=None, max_length=32)
    pause_resumes_at: datetime | None = None
    created: datetime
    # Stripe object version we mirrored (event `created` or fetch time) to ignore stale writes.
    stripe_updated_at: datetime | None = None
    synced_at: datetime = Field(default_factory=utcnow)


class Invoice(SQLModel, table=True):
    __table_args__ = (
        sa.UniqueConstraint("project_id", "stripe_id", name="uq_invoice_project_stripe"),
        sa.Index("ix_invoice_customer_created", "customer_id", "created"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="project.id", max_length=40)
    customer_id: str = Field(foreign_key="customer.id", max_length=40)
    stripe_id: str = Field(max_length=255)
    number: str | None = Field(default=None, max_length=255)
    status: str = Field(max_length=32)
    currency: str = Field(default="usd", max_length=3)
    total: int = 0
    amount_due: int = 0
    amount_paid: int = 0
    invoice_pdf: str | None = Field(default=None, max_length=2000)
    hosted_invoice_url: str | None = Field(default=None, max_length=2000)
    subscription_stripe_id: str | None = Field(default=None, max_length=255)
    # The first line item's description (what the invoice is for) and, for invoices sent
    # to be paid (collection_method=send_invoice), when payment is due.
    description: str | None = Field(default=None, max_length=500)
    due_date: datetime | None = None
    created: datetime
    synced_at: datetime = Field(default_factory=utcnow)


class TaxId(SQLModel, table=True):
    """A customer's tax id (`txi_…`, e.g. an EU VAT number), mirrored from Stripe."""

    __tablename__ = "tax_id"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "stripe_id", name="uq_tax_id_project_stripe"),
        sa.Index("ix_tax_id_customer", "customer_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="project.id", max_length=40)
    customer_id: str = Field(foreign_key="customer.id", max_length=40)
    stripe_id: str = Field(max_length=255)
    type: str = Field(max_length=32)
    value: str = Field(max_length=100)
    # Stripe's `verification.status`: pending, verified, unverified or unavailable.
    verification_status: str = Field(default="unavailable", max_length=32)
    created: datetime
    synced_at: datetime = Field(default_factory=utcnow)


class PaymentMethod(SQLModel, table=True):
    __tablename__ = "payment_method"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "stripe_id", name="uq_payment_method_project_stripe"),
        sa.Index("ix_payment_method_customer", "customer_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="project.id", max_length=40)
    customer_id: str = Field(foreign_key="customer.id", max_length=40)
    stripe_id: str = Field(max_length=255)
    type: str = Field(default="card", max_length=32)
    brand: str | None = Field(default=None, max_length=32)
    last4: str | None = Field(default=None, max_length=4)
    exp_month: int | None = None
    exp_year: int | None = None
    created: datetime
    synced_at: datetime = Field(default_factory=utcnow)


class WebhookEvent(SQLModel, table=True):
    """A verified Stripe event: persisted on receipt, processed later (services/webhooks/).

    Unprocessed: `processed_at` is NULL and `next_attempt_at` says when it is due (a
    worker that claims it pushes that forward by a lease). Given up: both NULL, `error` set.
    """

    __tablename__ = "webhook_event"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "stripe_event_id", name="uq_webhook_event_project_event"),
        sa.Index("ix_webhook_event_due", "next_attempt_at"),
        sa.Index("ix_webhook_event_project_received", "project_id", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: str = Field(foreign_key="project.id", index=True, max_length=40)
    stripe_event_id: str = Field(max_length=255)
    type: str = Field(max_length=100)
    stripe_created: datetime | None = None
    # What the event is about; the object itself is re-fetched from Stripe when processed.
    object_id: str | None = Field(default=None, max_length=255)
    stripe_customer_id: str | None = Field(default=None, max_length=255)
    received_at: datetime = Field(default_factory=utcnow)
    next_attempt_at: datetime | None = None
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    processed_at: datetime | None = None
    # applied | unchanged | ignored_customer | ignored_type (set when processed).
    outcome: str | None = Field(default=None, max_length=40)
    error: str | None = Field(default=None, max_length=2000)


class SyncRun(SQLModel, table=True):
    """One `billstack sync` run; `--resume` continues the latest unfinished one."""

    __tablename__ = "sync_run"
    __table_args__ = (sa.Index("ix_sync_run_project_started", "project_id", "started_at"),)

    id: str = Field(primary_key=True, max_length=40)
    project_id: str = Field(foreign_key="project.id", max_length=40)
    customer_id: str | None = Field(default=None, max_length=40)  # a one-customer run (`--customer`)
    import_customers: bool = False
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    customers_total: int = 0
    customers_done: int = 0
    customers_imported: int = 0
    rows_written: int = 0


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        sa.Index("ix_audit_event_project_created", "project_id", "created_at"),
        sa.Index("ix_audit_event_project_customer_created", "project_id", "customer_id", "created_at"),
        sa.Index("ix_audit_event_created", "created_at"),  # retention prunes by age alone
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: str | None = Field(default=None, max_length=40)
    action: str = Field(max_length=64)
    customer_id: str | None = Field(default=None, max_length=40)
    session_id: str | None = Field(default=None, max_length=40)
    api_key_id: str | None = Field(default=None, max_length=40)
    client_ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)
    # The Stripe object the action touched (sub_…, pm_…, txi_…, cus_…), when there is one.
    stripe_object_id: str | None = Field(default=None, max_length=255)
    # ok | failed | denied
    outcome: str = Field(default="ok", max_length=16, sa_column_kwargs={"server_default": "ok"})
    detail: str | None = Field(default=None, max_length=4000)  # JSON
    created_at: datetime = Field(default_factory=utcnow)
