"""Seed a realistic demo customer through the SDK, over the wire.

Two subscriptions on different products (each about a year old, via Stripe's
`backdate_start_date`; the emulator replays the periods since then as paid monthly
invoices), one open invoice (a one-off charge sent for payment), and a default Visa.
Against real Stripe the same calls work, but Stripe bills the backdated span as one
invoice instead of a year of history.
"""

from __future__ import annotations

from typing import Any

import stripe

DAY = 86400
PLANS = (
    # lookup key, product name, monthly amount (cents), age in days
    ("billstack_demo_team_monthly", "Team plan", 4900, 365),
    ("billstack_demo_support_monthly", "Priority support", 1900, 300),
)


def _price(client: stripe.StripeClient, lookup_key: str, name: str, amount: int) -> stripe.Price:
    found = client.v1.prices.list({"lookup_keys": [lookup_key], "limit": 1})
    if found.data:
        return found.data[0]
    return client.v1.prices.create(
        {
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": "month"},
            "product_data": {"name": name},
            "lookup_key": lookup_key,
            "nickname": f"{name} (monthly)",
        }
    )


def seed_demo_customer(client: stripe.StripeClient, *, email: str, name: str) -> dict[str, Any]:
    """Create the customer and its history; returns the ids of what it made."""
    customer = client.v1.customers.create(
        {
            "email": email,
            "name": name,
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
            "metadata": {"seeded_by": "billstack"},
        }
    )
    pm_id = customer.invoice_settings.default_payment_method
    now = customer.created  # the account's clock, which tests may have moved
    subscriptions = []
    for lookup_key, product_name, amount, age_days in PLANS:
        price = _price(client, lookup_key, product_name, amount)
        sub = client.v1.subscriptions.create(
            {
                "customer": customer.id,
                "items": [{"price": price.id}],
                "backdate_start_date": now - age_days * DAY,
                "default_payment_method": pm_id,
            }
        )
        subscriptions.append(sub.id)
    client.v1.invoice_items.create(
        {
            "customer": customer.id,
            "amount": 15000,
            "currency": "usd",
            "description": "Onboarding workshop",
        }
    )
    draft = client.v1.invoices.create(
        {
            "customer": customer.id,
            "collection_method": "send_invoice",
            "days_until_due": 30,
            "pending_invoice_items_behavior": "include",
            "description": "Onboarding workshop",
        }
    )
    open_invoice = client.v1.invoices.finalize_invoice(draft.id)
    invoices = [
        inv.id for inv in client.v1.invoices.list({"customer": customer.id, "limit": 100}).auto_paging_iter()
    ]
    return {
        "customer": customer.id,
        "payment_method": pm_id,
        "subscriptions": subscriptions,
        "invoices": invoices,
        "open_invoice": open_invoice.id,
    }
