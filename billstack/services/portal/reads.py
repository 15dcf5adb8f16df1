"""The portal's reads: the whole view and the invoice pages, from the mirror.

The mirror is synced from Stripe on a customer's first open (or when asked); when the
sync cannot reach Stripe, saved data comes back marked `stale` rather than an error.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Session, select

from billstack.clock import utcnow
from billstack.config import get_settings
from billstack.errors import BillStackError, not_found
from billstack.models import Customer, Invoice, PaymentMethod, Project, Subscription
from billstack.services.portal.retention import cancellation_view
from billstack.services.portal.rows import (
    HIDDEN_SUBSCRIPTION_STATUSES,
    INVOICE_PAGE_MAX,
    allowed_updates,
    check_limit,
    customer_details_view,
    feature_off,
    invoice_view,
    payment_method_view,
    plan_names,
    subscription_view,
)
from billstack.services.setting_checks import safe_colour, safe_email, safe_link, safe_logo_url
from billstack.services.sessions import PortalContext
from billstack.services.sync import sync_customer
from billstack.services.views import (
    LIVE_STATUSES,
    Branding,
    CustomerView,
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
NOTICE_STRIPE_UNAVAILABLE = "stripe_unavailable"


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
    subscriptions = _subscription_views(db, customer)
    invoices = (
        _invoice_page(db, customer, starting_after=None, limit=check_limit(invoice_limit))
        if features.invoice_history
        else InvoicePage(invoices=[], has_more=False)
    )
    return PortalView(
        session_id=ctx.session.id,
        customer_id=customer.id,
        customer_email=customer.email,
        customer_name=customer.name,
        customer=CustomerView(id=customer.id, details=customer_details_view(db, customer)),
        branding=branding_of(project),
        features=features,
        subscriptions=subscriptions,
        invoices=invoices,
        payment_methods=_payment_method_views(db, customer),
        amount_due=_amount_due(db, customer),
        return_url=safe_link(ctx.session.return_url or project.default_return_url),
        locale=ctx.locale,
        expires_at=ctx.session.expires_at,
        flow=ctx.flow,
        synced_at=customer.synced_at,
        stale=stale,
        notices=[NOTICE_STRIPE_UNAVAILABLE] if stale else [],
        cancellation=cancellation_view(project, subscriptions),
    )


def load_page_view(db: Session, ctx: PortalContext) -> tuple[PortalView, bool, int]:
    """For the portal page's first render: the view from the mirror (synced first if it never
    was), whether it is old (refresh it in the background), and the mirror version it shows.

    The version is read first: a change landing meanwhile then shows as one more update
    (harmless) rather than as one the page never sees.
    """
    version = ctx.customer.mirror_version
    refresh_later = ctx.customer.synced_at is not None and mirror_is_old(ctx)
    return load_portal_view(db, ctx), refresh_later, version


def mirror_view(db: Session, ctx: PortalContext, *, invoice_limit: int = 10) -> tuple[PortalView, int]:
    """The view as the mirror has it now, and the mirror version it shows (read in one
    transaction): what an open page re-renders on a live update."""
    version = ctx.customer.mirror_version
    return load_portal_view(db, ctx, refresh="never", invoice_limit=invoice_limit), version


def list_invoices(
    db: Session, ctx: PortalContext, *, starting_after: str | None = None, limit: int = 10
) -> InvoicePage:
    """Newest first, from the mirror; `starting_after` is the last invoice id already shown."""
    if not ctx.project.feature_invoice_history:
        raise feature_off("Invoice history")
    return _invoice_page(db, ctx.customer, starting_after=starting_after, limit=check_limit(limit))


def mirror_is_old(ctx: PortalContext, *, now: datetime | None = None) -> bool:
    """True when the customer's mirror is older than BILLSTACK_SYNC_MAX_AGE (or was never
    synced): the page then shows saved data at once and refreshes (`refresh="always"`)
    in the background."""
    synced_at = ctx.customer.synced_at
    if synced_at is None:
        return True
    return (now or utcnow()) - synced_at > timedelta(seconds=get_settings().sync_max_age)


def branding_of(project: Project) -> Branding:
    """The project's brand, each value checked again on the way out (setting_checks.safe_*):
    one stored before the checks, or by hand, is dropped or replaced, never rendered."""
    return Branding(
        display_name=project.display_name or project.name,
        logo_url=safe_logo_url(project.logo_url),
        accent_color=safe_colour(project.accent_color),
        support_email=safe_email(project.support_email),
        support_url=safe_link(project.support_url),
        terms_url=safe_link(project.terms_url),
        privacy_url=safe_link(project.privacy_url),
    )


def features_of(project: Project) -> Features:
    return Features(
        cancel=project.feature_cancel,
        resume=project.feature_resume,
        invoice_history=project.feature_invoice_history,
        payment_method_update=project.feature_payment_method_update,
        plan_change=project.feature_plan_change,
        customer_update=allowed_updates(project),
        payment_method_remove=project.feature_payment_method_remove,
        pause=project.feature_pause,
        promotion_code=project.feature_promotion_code,
    )


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


def _subscription_views(db: Session, customer: Customer) -> list[SubscriptionView]:
    rows = db.exec(
        select(Subscription)
        .where(
            Subscription.customer_id == customer.id,
            Subscription.status.not_in(HIDDEN_SUBSCRIPTION_STATUSES),
        )
        .order_by(Subscription.created.desc(), Subscription.stripe_id.desc())
    ).all()
    # Live subscriptions first (what the customer came for), then ended ones; newest first within.
    rows = sorted(rows, key=lambda row: row.status not in LIVE_STATUSES)
    names = plan_names(db, rows)
    return [subscription_view(row, names) for row in rows]


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


def _amount_due(db: Session, customer: Customer) -> list[InvoiceView]:
    """What the customer owes now: open invoices with an amount due (a past-due
    subscription's included), oldest due first (no due date: by creation). Shown whatever
    the invoice-history toggle says: money owed must never be invisible."""
    rows = db.exec(
        select(Invoice)
        .where(Invoice.customer_id == customer.id, Invoice.status == "open", Invoice.amount_due > 0)
        .order_by(sa.func.coalesce(Invoice.due_date, Invoice.created), Invoice.created, Invoice.stripe_id)
        .limit(INVOICE_PAGE_MAX)
    ).all()
    return [invoice_view(row) for row in rows]


def _payment_method_views(db: Session, customer: Customer) -> list[PaymentMethodView]:
    rows = db.exec(
        select(PaymentMethod)
        .where(PaymentMethod.customer_id == customer.id)
        .order_by(PaymentMethod.created.desc(), PaymentMethod.stripe_id.desc())
    ).all()
    views = [payment_method_view(row, customer) for row in rows]
    return sorted(views, key=lambda view: not view.is_default)
