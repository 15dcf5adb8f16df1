"""The emulator's hosted Checkout (setup mode) in Chromium: fill the card by label, submit, land on success_url."""

from __future__ import annotations

import html
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe
from playwright.sync_api import Page, expect

from devtools.emulator import new_account_key


class _ReturnPages(BaseHTTPRequestHandler):
    """A stand-in for the portal: /return shows the session id it was sent back with."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        session = parse_qs(url.query).get("session_id", [""])[0]
        text = f"Card saved for {session}" if url.path == "/return" else "Checkout canceled"
        body = f'<!doctype html><html lang="en"><title>Portal</title><h1>{html.escape(text)}</h1></html>'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def portal_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ReturnPages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(emulator_url: str) -> stripe.StripeClient:
    return stripe.StripeClient(new_account_key(), base_addresses={"api": emulator_url}, max_network_retries=0)


def _session(client: stripe.StripeClient, portal_url: str) -> tuple[stripe.Customer, stripe.checkout.Session]:
    customer = client.v1.customers.create({"email": "browser@example.com", "name": "Bea Browser"})
    session = client.v1.checkout.sessions.create(
        {
            "mode": "setup",
            "customer": customer.id,
            "currency": "usd",
            "success_url": f"{portal_url}/return?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{portal_url}/cancel",
        }
    )
    return customer, session


def _fill_card(page: Page, number: str) -> None:
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry").fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Cardholder name").fill("Bea Browser")
    page.get_by_role("button", name="Save card").click()


def test_valid_card_is_saved_and_returns_to_success_url(
    page: Page, client: stripe.StripeClient, portal_url: str, artifacts_dir: Path
) -> None:
    customer, session = _session(client, portal_url)
    page.goto(session.url)
    expect(page.get_by_role("heading", name="Save your card")).to_be_visible()
    expect(page.get_by_text("browser@example.com")).to_be_visible()
    _fill_card(page, "4242 4242 4242 4242")
    expect(page).to_have_url(f"{portal_url}/return?session_id={session.id}")
    expect(page.get_by_role("heading", name=f"Card saved for {session.id}")).to_be_visible()

    done = client.v1.checkout.sessions.retrieve(session.id, {"expand": ["setup_intent.payment_method"]})
    assert done.status == "complete"
    assert done.setup_intent.status == "succeeded"
    pm = done.setup_intent.payment_method
    assert (pm.customer, pm.card.brand, pm.card.last4) == (customer.id, "visa", "4242")
    assert pm.billing_details.name == "Bea Browser"


def test_declined_card_shows_the_error_and_attaches_nothing(
    page: Page, client: stripe.StripeClient, portal_url: str, artifacts_dir: Path
) -> None:
    customer, session = _session(client, portal_url)
    page.goto(session.url)
    _fill_card(page, "4000 0000 0000 0002")
    expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    expect(page).to_have_url(session.url)
    page.screenshot(path=str(artifacts_dir / "emulator-checkout-declined.png"))
    assert client.v1.payment_methods.list({"customer": customer.id}).data == []
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"

    # The customer corrects the card on the same page and succeeds.
    page.get_by_label("Card number").fill("5555 5555 5555 4444")
    page.get_by_label("CVC").fill("123")
    page.get_by_role("button", name="Save card").click()
    expect(page).to_have_url(f"{portal_url}/return?session_id={session.id}")
    (pm,) = client.v1.payment_methods.list({"customer": customer.id}).data
    assert pm.card.brand == "mastercard"


def test_invalid_number_is_flagged_on_the_field(
    page: Page, client: stripe.StripeClient, portal_url: str
) -> None:
    _, session = _session(client, portal_url)
    page.goto(session.url)
    _fill_card(page, "4242 4242 4242 4241")
    card_number = page.get_by_label("Card number")
    expect(card_number).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("Your card number is invalid.")).to_be_visible()


def test_cancel_link_returns_to_cancel_url(page: Page, client: stripe.StripeClient, portal_url: str) -> None:
    _, session = _session(client, portal_url)
    page.goto(session.url)
    page.get_by_role("link", name="Cancel and return").click()
    expect(page).to_have_url(f"{portal_url}/cancel")
    expect(page.get_by_role("heading", name="Checkout canceled")).to_be_visible()
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
