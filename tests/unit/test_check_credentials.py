"""stripe_gateway.check_credentials: one cheap Stripe call that tells an operator at once
when a secret key or API base cannot work, naming the URL (issue 13, item 13)."""

from __future__ import annotations

import socket

import pytest

from billstack import stripe_gateway
from billstack.errors import BillStackError


def _closed_port_url() -> str:
    with socket.socket() as probe:  # a loopback port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_a_working_key_and_base_pass(emulator_url: str) -> None:
    stripe_gateway.check_credentials("sk_test_" + "a" * 24, emulator_url)


def test_an_unreachable_api_base_is_named(emulator_url: str) -> None:
    base = _closed_port_url()
    with pytest.raises(BillStackError) as error:
        stripe_gateway.check_credentials("sk_test_" + "a" * 24, base + "/")
    assert (error.value.code, error.value.param) == ("stripe_unreachable", "stripeApiBase")
    assert base in error.value.message


def test_a_refused_key_is_named_with_the_url(emulator_url: str) -> None:
    with pytest.raises(BillStackError) as error:
        stripe_gateway.check_credentials("sk_live_" + "a" * 24, emulator_url)
    assert (error.value.code, error.value.param) == ("stripe_key_invalid", "stripeSecretKey")
    assert emulator_url.rstrip("/") in error.value.message
    assert "a" * 24 not in error.value.message  # the key is never echoed whole


def test_a_server_that_is_not_stripe_is_named(emulator_url: str) -> None:
    base = emulator_url.rstrip("/") + "/not-stripe"
    with pytest.raises(BillStackError) as error:
        stripe_gateway.check_credentials("sk_test_" + "a" * 24, base)
    assert (error.value.code, error.value.param) == ("stripe_unreachable", "stripeApiBase")
    assert base in error.value.message
