"""Stripe resources; importing this package registers every route and renderer."""

from billstack.emulator.resources import (  # noqa: F401
    customers,
    payment_methods,
)
