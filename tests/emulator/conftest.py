"""Each test gets its own emulator account (a fresh secret key) on the session-wide emulator."""

from __future__ import annotations

import pytest
import stripe

from devtools.emulator import new_account_key
from tests.emulator.helpers import Plans, make_plans


@pytest.fixture
def api_key() -> str:
    return new_account_key()


@pytest.fixture
def client(emulator_url: str, api_key: str) -> stripe.StripeClient:
    """The real SDK, pointed at the emulator; no retries so faults surface directly."""
    return stripe.StripeClient(api_key, base_addresses={"api": emulator_url}, max_network_retries=0)


@pytest.fixture
def plans(client: stripe.StripeClient) -> Plans:
    return make_plans(client)
