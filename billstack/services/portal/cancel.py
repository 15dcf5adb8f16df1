"""Cancel a subscription at its period end, or resume it (undo that).

Stripe is written first, with an idempotency key, then the mirror from Stripe's answer;
nothing changes locally when Stripe fails.
"""

from __future__ import annotations

import hashlib

from sqlmodel import Session

from billstack import stripe_gateway
from billstack.db import release_connection
from billstack.errors import invalid
from billstack.services import audit
from billstack.services.portal.rows import ensure_synced, feature_off, own_subscription, subscription_view
from billstack.services.sessions import PortalContext
from billstack.services.sync import apply_subscription
from billstack.services.views import CANCEL_REASONS, LIVE_STATUSES, SubscriptionView

CANCEL_COMMENT_MAX = 500


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
        raise feature_off("Cancelling subscriptions")
    if not cancel and not project.feature_resume:
        raise feature_off("Resuming subscriptions")
    reason, comment = _check_reason(reason, comment) if cancel else (None, None)
    ensure_synced(db, ctx)
    row = own_subscription(db, customer, subscription_id)
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
    return subscription_view(own_subscription(db, customer, subscription_id))


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
