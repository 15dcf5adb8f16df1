"""What a customer can see and do in the portal, for one validated `PortalContext`.

The REST routes (api_routes/portal.py) and the Reflex state call these same functions,
so the two can never disagree. Reads come from the mirror (services/sync.py) and fall
back to saved data when Stripe is down; writes go to Stripe first (with an idempotency
key), then to the mirror from Stripe's answer, and change nothing locally when Stripe
fails.

No database connection is held while Stripe is called: each service commits its unit of
work so far first (`release_connection`), so a slow Stripe holds no connection, no row
lock and no SQLite write lock (services/portal_calls.py bounds the threads it holds).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Session, select

from billstack import stripe_gateway
from billstack.clock import utcnow
from billstack.config import get_settings
from billstack.db import release_connection
from billstack.errors import BillStackError, forbidden, invalid, not_found
from billstack.models import Customer, Invoice, PaymentMethod, Project, Subscription
from billstack.services import audit
from billstack.services.sessions import PortalContext, check_return_url
from billstack.services.sync import LIVE_STATUSES, apply_subscription, id_of, sync_customer
from billstack.services.views import (
    Branding,
    Features,
    InvoicePage,
    InvoiceView,
    PaymentMethodView,
    PortalView,
    SubscriptionView,
)

log = logging.getLogger("billstack.portal")

Refresh = Literal["if_stale", "always", "never"]
REFRESH_MODES = ("if_stale", "always", "never")
INVOICE_PAGE_MAX = 100
# Stripe's own `cancellation_details[feedback]` values.
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
CANCEL_COMMENT_MAX = 500
# Never shown to customers: they only ever had an unpaid first invoice.
_HIDDEN_SUBSCRIPTION_STATUSES = ("incomplete_expired",)
NOTICE_STRIPE_UNAVAILABLE = "stripe_unavailable"
CHECKOUT_SESSION_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"
# What a Checkout Session id can look like (`cs_test_…`, `cs_live_…`), at most 255 characters.
# Checked before the id goes into a Stripe URL, where `/`, `.` or `?` would change the request.
_CHECKOUT_SESSION_ID = re.compile(r"cs_[A-Za-z0-9_]{1,252}")


@dataclass(frozen=True)
class CheckoutRedirect:
    id: str  # Stripe's cs_…
    url: str


# --- reads -------------------------------------------------------------------------------


def load_portal_view(
    db: Session, ctx: PortalContext, *, refresh: Refresh = "if_stale", invoice_limit: int = 10
) -> PortalView:
    """The whole portal for the token's customer.

    `if_stale` syncs only a never-synced customer (the first open); `always` syncs
    first; `never` reads the mirror as it is. When the sync cannot reach Stripe the
    saved data comes back with `stale=True`; only a customer with no saved data at all
    gets the 503.
    """
    stale = _refresh_mirror(db, ctx, refresh)
    project, customer = ctx.project, ctx.customer
    features = features_of(project)
    invoices = (
        _invoice_page(db, customer, starting_after=None, limit=_check_limit(invoice_limit))
        if features.invoice_history
        else InvoicePage(invoices=[], has_more=False)
    )
    return PortalView(
        session_id=ctx.session.id,
        customer_id=customer.id,
        customer_email=customer.email,
        customer_name=customer.name,
        branding=branding_of(project),
        features=features,
        subscriptions=_subscription_views(db, customer),
        invoices=invoices,
        payment_methods=_payment_method_views(db, customer),
        return_url=ctx.session.return_url or project.default_return_url,
        locale=ctx.session.locale,
        expires_at=ctx.session.expires_at,
        flow=ctx.flow,
        synced_at=customer.synced_at,
        stale=stale,
        notices=[NOTICE_STRIPE_UNAVAILABLE] if stale else [],
    )


def list_invoices(
    db: Session, ctx: PortalContext, *, starting_after: str | None = None, limit: int = 10
) -> InvoicePage:
    """Newest first, from the mirror; `starting_after` is the last invoice id already shown."""
    if not ctx.project.feature_invoice_history:
        raise _feature_off("Invoice history")
    return _invoice_page(db, ctx.customer, starting_after=starting_after, limit=_check_limit(limit))


def mirror_is_old(ctx: PortalContext, *, now: datetime | None = None) -> bool:
    """True when the customer's mirror is older than BILLSTACK_SYNC_MAX_AGE (or was never
    synced): the page then shows saved data at once and refreshes (`refresh="always"`)
    in the background."""
    synced_at = ctx.customer.synced_at
    if synced_at is None:
        return True
    return (now or utcnow()) - synced_at > timedelta(seconds=get_settings().sync_max_age)


def branding_of(project: Project) -> Branding:
    return Branding(
        display_name=project.display_name or project.name,
        logo_url=project.logo_url,
        accent_color=project.accent_color,
        support_email=project.support_email,
        support_url=project.support_url,
        terms_url=project.terms_url,
        privacy_url=project.privacy_url,
    )


def features_of(project: Project) -> Features:
    return Features(
        cancel=project.feature_cancel,
        resume=project.feature_resume,
        invoice_history=project.feature_invoice_history,
        payment_method_update=project.feature_payment_method_update,
    )


# --- cancel at period end / resume ------------------------------------------------------


def set_cancel_at_period_end(
    db: Session,
    ctx: PortalContext,
    subscription_id: str,
    cancel: bool,
    *,
    reason: str | None = None,
    comment: str | None = None,
    idempotency_key: str | None = None,
) -> SubscriptionView:
    """Schedule the end of a subscription at its period end (`cancel=True`) or undo that.

    `reason` is one of Stripe's `cancellation_details[feedback]` values and `comment`
    free text; both are sent to Stripe on cancel only.
    """
    project, customer = ctx.project, ctx.customer
    if cancel and not project.feature_cancel:
        raise _feature_off("Cancelling subscriptions")
    if not cancel and not project.feature_resume:
        raise _feature_off("Resuming subscriptions")
    reason, comment = _check_reason(reason, comment) if cancel else (None, None)
    _ensure_synced(db, ctx)
    row = _own_subscription(db, customer, subscription_id)
    if row.status not in LIVE_STATUSES:
        raise invalid(
            f"This subscription is {row.status}; only active, trialing or past-due subscriptions can be "
            + ("cancelled." if cancel else "resumed."),
            param="subscriptionId",
            code="subscription_not_live",
        )
    key = _cancel_key(ctx, row.stripe_id, cancel, idempotency_key)
    release_connection(db)
    updated = stripe_gateway.set_cancel_at_period_end(
        project, row.stripe_id, cancel, key=key, feedback=reason, comment=comment
    )
    apply_subscription(db, project, customer, updated)
    audit.record(
        db,
        "subscription.cancel_scheduled" if cancel else "subscription.resumed",
        project_id=project.id,
        customer_id=customer.id,
        session_id=ctx.session.id,
        detail={"subscription": row.stripe_id, **({"reason": reason} if reason else {})},
    )
    return subscription_view(_own_subscription(db, customer, subscription_id))


def _cancel_key(ctx: PortalContext, subscription_id: str, cancel: bool, client_key: str | None) -> str:
    """The Stripe idempotency key for one cancel/resume.

    Without a client key every call is its own intent: the key makes the SDK's network
    retries safe, and setting the flag again later is harmless. A client key (the
    REST `Idempotency-Key` header) is namespaced to this customer and action, so a
    client's retry after a lost answer replays Stripe's result instead of acting twice.
    """
    if client_key is None:
        return stripe_gateway.idempotency_key()
    digest = hashlib.sha256(client_key.encode()).hexdigest()[:32]
    action = "sub-cancel" if cancel else "sub-resume"
    return stripe_gateway.idempotency_key(action, ctx.project.id, ctx.customer.id, subscription_id, digest)


def _check_reason(reason: str | None, comment: str | None) -> tuple[str | None, str | None]:
    if reason is not None and reason not in CANCEL_REASONS:
        raise invalid(f"reason must be one of {', '.join(CANCEL_REASONS)}.", param="reason")
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > CANCEL_COMMENT_MAX:
        raise invalid(f"comment is longer than {CANCEL_COMMENT_MAX} characters.", param="comment")
    return reason, comment


# --- payment method update through Stripe Checkout (setup mode) ------------------------


def start_payment_method_update(db: Session, ctx: PortalContext, *, success_url: str, cancel_url: str) -> str:
    """The Stripe Checkout URL (setup mode) to send the customer to."""
    return create_payment_method_checkout(db, ctx, success_url=success_url, cancel_url=cancel_url).url


def start_payment_method_checkout(
    db: Session, ctx: PortalContext, *, portal_url: str, return_url: str | None = None
) -> CheckoutRedirect:
    """Checkout that comes back to `portal_url` (trusted, built by the caller), or to
    `return_url` (client-supplied, so held to the project's allowed return origins)."""
    base = check_return_url(return_url, ctx.project) if return_url is not None else portal_url
    glue = "&" if "?" in base else "?"
    return create_payment_method_checkout(
        db,
        ctx,
        success_url=f"{base}{glue}setup=success&session_id={CHECKOUT_SESSION_PLACEHOLDER}",
        cancel_url=f"{base}{glue}setup=canceled",
    )


def create_payment_method_checkout(
    db: Session, ctx: PortalContext, *, success_url: str, cancel_url: str
) -> CheckoutRedirect:
    project, customer = ctx.project, ctx.customer
    if not project.feature_payment_method_update:
        raise _feature_off("Updating the payment method")
    if CHECKOUT_SESSION_PLACEHOLDER not in success_url:
        # Without the session id on return there is no way to finish the update.
        raise invalid(f"success_url must contain {CHECKOUT_SESSION_PLACEHOLDER}.", param="successUrl")
    currency = _billing_currency(db, customer)
    release_connection(db)
    session = stripe_gateway.create_setup_checkout_session(
        project,
        customer.stripe_customer_id,
        currency=currency,
        success_url=success_url,
        cancel_url=cancel_url,
        # Each click is its own Checkout; the key only makes the SDK's network retries safe.
        key=stripe_gateway.idempotency_key(),
    )
    audit.record(
        db,
        "payment_method.checkout_started",
        project_id=project.id,
        customer_id=customer.id,
        session_id=ctx.session.id,
        detail={"checkout_session": session["id"]},
    )
    return CheckoutRedirect(id=session["id"], url=session["url"])


def complete_payment_method_update(
    db: Session, ctx: PortalContext, checkout_session_id: str
) -> PaymentMethodView:
    """After Checkout: make the new card the default for the customer and their live
    subscriptions. Safe to repeat (a reload of the return URL): the Stripe writes use
    keys derived from the Checkout Session, and subscriptions already on the card are
    left alone."""
    project, customer = ctx.project, ctx.customer
    if not project.feature_payment_method_update:
        raise _feature_off("Updating the payment method")
    release_connection(db)
    payment_method_id = _completed_setup_payment_method(project, customer, checkout_session_id)
    previous_default = customer.default_payment_method_id
    stripe_customer = stripe_gateway.set_customer_default_payment_method(
        project,
        customer.stripe_customer_id,
        payment_method_id,
        key=stripe_gateway.idempotency_key("cus-default-pm", project.id, checkout_session_id),
    )
    settings = stripe_customer.get("invoice_settings") or {}
    superseded = id_of(settings.get("default_payment_method")) != payment_method_id
    sync_customer(db, project, customer)
    # A replay of an old checkout whose card has since been replaced must not bring it back.
    for row in [] if superseded else _live_subscriptions(db, customer):
        if row.default_payment_method_id != payment_method_id:
            key = stripe_gateway.idempotency_key(
                "sub-default-pm", project.id, checkout_session_id, row.stripe_id
            )
            release_connection(db)
            updated = stripe_gateway.set_subscription_default_payment_method(
                project, row.stripe_id, payment_method_id, key=key
            )
            apply_subscription(db, project, customer, updated)
    if previous_default != payment_method_id:
        audit.record(
            db,
            "payment_method.default_changed",
            project_id=project.id,
            customer_id=customer.id,
            session_id=ctx.session.id,
            detail={"payment_method": payment_method_id, "checkout_session": checkout_session_id},
        )
    return _payment_method_view(db, customer, payment_method_id)


def _completed_setup_payment_method(project: Project, customer: Customer, checkout_session_id: str) -> str:
    missing = not_found(f"No such checkout session: '{checkout_session_id}'.", param="checkoutSessionId")
    if not isinstance(checkout_session_id, str) or not _CHECKOUT_SESSION_ID.fullmatch(checkout_session_id):
        raise missing
    try:
        session = stripe_gateway.retrieve_checkout_session(project, checkout_session_id)
    except BillStackError as exc:
        if exc.status == 404:
            raise missing from exc
        raise
    # Another customer's (or a non-setup) session looks exactly like one that does not exist.
    if id_of(session.get("customer")) != customer.stripe_customer_id or session.get("mode") != "setup":
        raise missing
    setup_intent = session.get("setup_intent")
    setup_intent = setup_intent if isinstance(setup_intent, dict) else {}
    payment_method_id = id_of(setup_intent.get("payment_method"))
    finished = session.get("status") == "complete" and setup_intent.get("status") == "succeeded"
    if not finished or not payment_method_id:
        raise invalid(
            "This checkout was not completed, so the payment method was not changed.",
            param="checkoutSessionId",
            code="checkout_session_incomplete",
        )
    return payment_method_id


# --- mirror reads ------------------------------------------------------------------------


def _refresh_mirror(db: Session, ctx: PortalContext, refresh: Refresh) -> bool:
    """Sync when asked to; True when Stripe could not be reached and saved data is shown."""
    if refresh not in REFRESH_MODES:
        raise ValueError(f"refresh must be one of {REFRESH_MODES}, got {refresh!r}")
    if refresh == "never" or (refresh == "if_stale" and ctx.customer.synced_at is not None):
        return False
    try:
        sync_customer(db, ctx.project, ctx.customer)
    except BillStackError as exc:
        # 5xx: Stripe down, or our key no longer accepted. Saved data beats an error page.
        if exc.status < 500 or ctx.customer.synced_at is None:
            raise
        log.warning("showing saved data for %s: Stripe sync failed (%s)", ctx.customer.id, exc.code)
        return True
    return False


def _ensure_synced(db: Session, ctx: PortalContext) -> None:
    """Actions check ownership against the mirror, so a first-time API caller syncs first."""
    if ctx.customer.synced_at is None:
        sync_customer(db, ctx.project, ctx.customer)


def _own_subscription(db: Session, customer: Customer, subscription_id: str) -> Subscription:
    row = db.exec(
        select(Subscription).where(
            Subscription.project_id == customer.project_id, Subscription.stripe_id == subscription_id
        )
    ).first()
    # Another customer's subscription is indistinguishable from one that does not exist.
    if row is None or row.customer_id != customer.id or row.status in _HIDDEN_SUBSCRIPTION_STATUSES:
        raise not_found(f"No such subscription: '{subscription_id}'.", param="subscriptionId")
    return row


def _subscription_views(db: Session, customer: Customer) -> list[SubscriptionView]:
    rows = db.exec(
        select(Subscription)
        .where(
            Subscription.customer_id == customer.id,
            Subscription.status.not_in(_HIDDEN_SUBSCRIPTION_STATUSES),
        )
        .order_by(Subscription.created.desc(), Subscription.stripe_id.desc())
    ).all()
    # Live subscriptions first (what the customer came for), then ended ones; newest first within.
    rows = sorted(rows, key=lambda row: row.status not in LIVE_STATUSES)
    return [subscription_view(row) for row in rows]


def _live_subscriptions(db: Session, customer: Customer) -> list[Subscription]:
    return list(
        db.exec(
            select(Subscription).where(
                Subscription.customer_id == customer.id, Subscription.status.in_(LIVE_STATUSES)
            )
        )
    )


def _billing_currency(db: Session, customer: Customer) -> str:
    """Checkout in setup mode needs a currency: the one the customer is billed in."""
    for row in _live_subscriptions(db, customer):
        return row.currency
    return "usd"


def _invoice_page(db: Session, customer: Customer, *, starting_after: str | None, limit: int) -> InvoicePage:
    query = select(Invoice).where(Invoice.customer_id == customer.id, Invoice.status != "draft")
    if starting_after is not None:
        cursor = db.exec(
            select(Invoice).where(Invoice.customer_id == customer.id, Invoice.stripe_id == starting_after)
        ).first()
        if cursor is None:
            raise not_found(f"No such invoice: '{starting_after}'.", param="startingAfter")
        # Keyset paging on (created, stripe_id), the same order the page is sorted in.
        query = query.where(
            sa.or_(
                Invoice.created < cursor.created,
                sa.and_(Invoice.created == cursor.created, Invoice.stripe_id < cursor.stripe_id),
            )
        )
    rows = db.exec(query.order_by(Invoice.created.desc(), Invoice.stripe_id.desc()).limit(limit + 1)).all()
    return InvoicePage(invoices=[invoice_view(row) for row in rows[:limit]], has_more=len(rows) > limit)


def _payment_method_views(db: Session, customer: Customer) -> list[PaymentMethodView]:
    rows = db.exec(
        select(PaymentMethod)
        .where(PaymentMethod.customer_id == customer.id)
        .order_by(PaymentMethod.created.desc(), PaymentMethod.stripe_id.desc())
    ).all()
    views = [payment_method_view(row, customer) for row in rows]
    return sorted(views, key=lambda view: not view.is_default)


def _payment_method_view(db: Session, customer: Customer, payment_method_id: str) -> PaymentMethodView:
    row = db.exec(
        select(PaymentMethod).where(
            PaymentMethod.customer_id == customer.id, PaymentMethod.stripe_id == payment_method_id
        )
    ).first()
    if row is None:  # not a card (the mirror keeps cards only): still the default
        return PaymentMethodView(
            id=payment_method_id, brand=None, last4=None, exp_month=None, exp_year=None,
            is_default=customer.default_payment_method_id == payment_method_id,
        )
    return payment_method_view(row, customer)


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= INVOICE_PAGE_MAX:
        raise invalid(f"limit must be between 1 and {INVOICE_PAGE_MAX}.", param="limit")
    return limit


def _feature_off(what: str) -> BillStackError:
    return forbidden(f"{what} is turned off for this portal.", code="feature_disabled")


# --- mirror rows → view model ------------------------------------------------------------


def subscription_view(row: Subscription) -> SubscriptionView:
    return SubscriptionView(
        id=row.stripe_id,
        status=row.status,
        product_name=row.product_name,
        price_nickname=row.price_nickname,
        unit_amount=row.unit_amount,
        currency=row.currency,
        interval=row.interval,
        interval_count=row.interval_count,
        quantity=row.quantity,
        cancel_at_period_end=row.cancel_at_period_end,
        current_period_end=row.current_period_end,
        cancel_at=row.cancel_at,
        canceled_at=row.canceled_at,
    )


def invoice_view(row: Invoice) -> InvoiceView:
    return InvoiceView(
        id=row.stripe_id,
        number=row.number,
        status=row.status,
        created=row.created,
        total=row.total,
        amount_due=row.amount_due,
        currency=row.currency,
        invoice_pdf=row.invoice_pdf,
        hosted_invoice_url=row.hosted_invoice_url,
    )


def payment_method_view(row: PaymentMethod, customer: Customer) -> PaymentMethodView:
    return PaymentMethodView(
        id=row.stripe_id,
        brand=row.brand,
        last4=row.last4,
        exp_month=row.exp_month,
        exp_year=row.exp_year,
        is_default=row.stripe_id == customer.default_payment_method_id,
    )
