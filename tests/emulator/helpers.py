"""Builders shared by the emulator tests."""

from __future__ import annotations

from dataclasses import dataclass

import stripe


@dataclass
class Catalog:
    basic: stripe.Price  # $10 / month
    seats: stripe.Price  # $5 / month, another product
    yearly: stripe.Price  # $100 / year


def make_catalog(client: stripe.StripeClient) -> Catalog:
    def price(name: str, amount: int, interval: str) -> stripe.Price:
        return client.v1.prices.create(
            {
                "product_data": {"name": name},
                "currency": "usd",
                "unit_amount": amount,
                "recurring": {"interval": interval},
            }
        )

    return Catalog(
        price("Basic", 1000, "month"), price("Seats", 500, "month"), price("Annual", 10000, "year")
    )


def customer_with_card(
    client: stripe.StripeClient, pm: str = "pm_card_visa", email: str = "sub@example.com"
) -> stripe.Customer:
    return client.v1.customers.create(
        {"email": email, "payment_method": pm, "invoice_settings": {"default_payment_method": pm}}
    )
