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


@dataclass
class Plans:
    """Prices for plan changes. Three bill every 30 days, so a change 10 days in leaves
    exactly 2/3 of the period."""

    basic: stripe.Price  # $10 / 30 days
    pro: stripe.Price  # $30 / 30 days
    seat: stripe.Price  # $5 / 30 days
    yearly: stripe.Price  # $100 / year


def make_plans(client: stripe.StripeClient) -> Plans:
    def price(name: str, amount: int, interval: str, count: int) -> stripe.Price:
        return client.v1.prices.create(
            {
                "product_data": {"name": name},
                "currency": "usd",
                "unit_amount": amount,
                "recurring": {"interval": interval, "interval_count": count},
            }
        )

    return Plans(
        price("Basic", 1000, "day", 30),
        price("Pro", 3000, "day", 30),
        price("Seat", 500, "day", 30),
        price("Annual", 10000, "year", 1),
    )
