"""Stripe resources; importing this package registers every route and renderer."""

from stripe_emulator.resources import (  # noqa: F401
    checkout,
    coupons,
    customers,
    events,
    invoice_items,
    invoices,
    payment_methods,
    products,
    setup_intents,
    subscription_schedules,
    subscriptions,
    tax_ids,
)
