"""The retention offer: the project's coupon, offered once in the cancel flow instead of
cancelling (Stripe's flow `retention: {type: coupon_offer}` as a project setting).

It applies to a live subscription of a project that cancels and has a retention coupon, as
long as the subscription has no discount: one that accepted it (or carries another coupon)
is not offered it again. Accepting applies the coupon in Stripe (with an idempotency key)
and undoes a cancellation scheduled at the period end; the mirror follows Stripe's answer.
"""

from __future__ import annotations

from sqlmodel import Session

from billstack import stripe_gateway
from billstack.db import release_connection
from billstack.errors import BillStackError
from billstack.models import Project
from billstack.services import audit
from billstack.services.cancel_settings import offered_reasons, retention_terms
from billstack.services.portal.cancel import CANCEL_COMMENT_MAX
from billstack.services.portal.keys import action_key
from billstack.services.portal.rows import ensure_synced, own_subscription, own_subscription_view, require_live
from billstack.services.sessions import PortalContext
from billstack.services.sync import apply_subscription
from billstack.services.views import LIVE_STATUSES, CancellationView, RetentionOfferView, SubscriptionView

RETENTION_ACCEPTED = "subscription.retention_accepted"


def offer_applies(project: Project, sub: SubscriptionView) -> bool:
    """The one rule for whether `sub` is offered the retention coupon."""
    return (
        project.feature_cancel
        and project.retention_coupon is not None
        and sub.status in LIVE_STATUSES
        and sub.discount is None
    )


def cancellation_view(project: Project, subscriptions: list[SubscriptionView]) -> CancellationView | None:
    """The cancel settings the portal needs; None when cancelling is off."""
    if not project.feature_cancel:
        return None
    return CancellationView(
        mode=project.cancel_mode,
        proration_behavior=project.cancel_proration,
        reasons=offered_reasons(project),
        comment_max_length=CANCEL_COMMENT_MAX,
        retention=_offer_view(project, subscriptions),
    )


def _offer_view(project: Project, subscriptions: list[SubscriptionView]) -> RetentionOfferView | None:
    terms = retention_terms(project)
    ids = [sub.id for sub in subscriptions if offer_applies(project, sub)]
    if terms is None or not ids:
        return None
    return RetentionOfferView(
        coupon_id=terms.coupon_id,
        percent_off=terms.percent_off,
        amount_off=terms.amount_off,
        currency=terms.currency,
        duration=terms.duration,
        duration_in_months=terms.duration_in_months,
        subscription_ids=ids,
    )


def accept_retention_offer(
    db: Session, ctx: PortalContext, subscription_id: str, *, idempotency_key: str | None = None
) -> SubscriptionView:
    """Apply the project's retention coupon to the subscription instead of cancelling it.
    409 `retention_offer_unavailable` when no offer applies (none set, cancelling off, or the
    subscription already has a discount); nothing is changed then."""
    project, customer = ctx.project, ctx.customer
    audit.attempt(ctx, RETENTION_ACCEPTED, stripe_object_id=subscription_id)
    ensure_synced(db, ctx)
    row = own_subscription(db, customer, subscription_id)
    require_live(row, "retained")
    if not offer_applies(project, own_subscription_view(db, customer, subscription_id)):
        raise _unavailable(project)
    coupon = str(project.retention_coupon)
    key = action_key(ctx, "sub-retain", row.stripe_id, idempotency_key)
    release_connection(db)
    updated = stripe_gateway.apply_retention_coupon(project, row.stripe_id, coupon, key=key)
    apply_subscription(db, project, customer, updated)
    audit.record_portal(db, ctx, RETENTION_ACCEPTED, stripe_object_id=row.stripe_id, detail={"coupon": coupon})
    return own_subscription_view(db, customer, subscription_id)


def _unavailable(project: Project) -> BillStackError:
    if not project.feature_cancel or project.retention_coupon is None:
        message = "This portal makes no retention offer."
    else:
        message = "The retention offer does not apply: this subscription already has a discount."
    return BillStackError(message, code="retention_offer_unavailable", param="subscriptionId", status=409)
