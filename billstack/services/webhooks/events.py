"""What BillStack does with each kind of Stripe event, and the outcomes it records.

The kinds (`kind_of`) decide which handler (webhooks/handlers.py) brings the mirror up to
date; HANDLED_EVENTS is what `billstack webhooks register` subscribes to.
"""

from __future__ import annotations

from datetime import UTC, datetime

# The events `billstack webhooks register` subscribes to: every one that can change what
# the portal shows. (`invoice.upcoming` has no invoice id, the reminders change nothing.)
HANDLED_EVENTS = (
    "customer.updated",
    "customer.deleted",
    "customer.tax_id.created",
    "customer.tax_id.updated",
    "customer.tax_id.deleted",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.pending_update_applied",
    "customer.subscription.pending_update_expired",
    "invoice.created",
    "invoice.deleted",
    "invoice.finalized",
    "invoice.finalization_failed",
    "invoice.marked_uncollectible",
    "invoice.paid",
    "invoice.payment_action_required",
    "invoice.payment_failed",
    "invoice.payment_succeeded",
    "invoice.sent",
    "invoice.updated",
    "invoice.voided",
    # A pending invoice item (e.g. a proration) changes the subscription's next invoice.
    "invoiceitem.created",
    "invoiceitem.updated",
    "invoiceitem.deleted",
    "payment_method.attached",
    "payment_method.detached",
    "payment_method.updated",
    "payment_method.automatically_updated",
    "checkout.session.completed",
    # A plan change waiting for the period end lives on a subscription schedule.
    "subscription_schedule.created",
    "subscription_schedule.updated",
    "subscription_schedule.released",
    "subscription_schedule.canceled",
    "subscription_schedule.completed",
    "subscription_schedule.aborted",
    "subscription_schedule.expiring",
)

APPLIED, UNCHANGED = "applied", "unchanged"
IGNORED_CUSTOMER, IGNORED_TYPE = "ignored_customer", "ignored_type"


def precise_now() -> datetime:
    """Sub-second precision (unlike clock.utcnow): lag is measured in these, and a just-received
    event must be due at once."""
    return datetime.now(UTC)


def kind_of(event_type: str) -> str | None:
    if event_type.startswith("customer.subscription."):
        return "subscription"
    if event_type.startswith("customer.tax_id."):
        return "tax_id"
    if event_type.startswith("invoiceitem."):
        return "invoice_item"
    if event_type.startswith("invoice.") and event_type != "invoice.upcoming":
        return "invoice"
    if event_type.startswith("payment_method."):
        return "payment_method"
    if event_type in ("customer.created", "customer.updated", "customer.deleted"):
        return "customer"
    if event_type == "checkout.session.completed":
        return "checkout_session"
    if event_type.startswith("subscription_schedule."):
        return "subscription_schedule"
    return None

