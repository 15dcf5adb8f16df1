"""Wire protocol: form parsing, headers, errors, faults, latency."""

from __future__ import annotations

import time

import httpx
import pytest
import stripe

from stripe_emulator.errors import StripeError
from devtools.emulator import clear_faults, inject_faults, new_account_key, running_emulator
from stripe_emulator.wire import merge_metadata, parse_form


def test_parse_form_bracket_nesting() -> None:
    body = (
        "items[0][price]=p1&items[0][quantity]=2&items[1][price]=p2&expand[]=a&expand[]=b.c"
        "&metadata[k]=v&metadata[empty]=&card[number]=4242&flag=true"
    )
    assert parse_form(body) == {
        "items": [{"price": "p1", "quantity": "2"}, {"price": "p2"}],
        "expand": ["a", "b.c"],
        "metadata": {"k": "v", "empty": ""},
        "card": {"number": "4242"},
        "flag": "true",
    }
    assert parse_form("expand[0]=x&expand[1]=y") == {"expand": ["x", "y"]}
    assert parse_form("items[10][price]=b&items[2][price]=a")["items"] == [{"price": "a"}, {"price": "b"}]
    with pytest.raises(StripeError):
        parse_form("metadata=x&metadata[k]=v")


def test_metadata_rules() -> None:
    assert merge_metadata({"a": "1", "b": "2"}, {"metadata": {"a": "", "c": "3"}}) == {"b": "2", "c": "3"}
    assert merge_metadata({"a": "1"}, {"metadata": ""}) == {}
    assert merge_metadata({"a": "1"}, {}) == {"a": "1"}


def test_headers_and_unknown_urls(emulator_url: str) -> None:
    key = new_account_key()
    resp = httpx.post(
        f"{emulator_url}/v1/customers",
        data={"email": "h@example.com"},
        headers={
            "Authorization": f"Bearer {key}",
            "Stripe-Version": "2025-01-01.acacia",
            "Idempotency-Key": "hdr-1",
        },
    )
    assert resp.status_code == 200
    assert (
        resp.headers["request-id"].startswith("req_")
        and resp.headers["stripe-version"] == "2025-01-01.acacia"
    )
    assert resp.headers["idempotency-key"] == "hdr-1"
    basic = httpx.get(f"{emulator_url}/v1/customers", auth=(key, ""))
    assert [c["id"] for c in basic.json()["data"]] == [resp.json()["id"]]
    unknown = httpx.get(f"{emulator_url}/v1/nothing", headers={"Authorization": f"Bearer {key}"})
    assert (
        unknown.status_code == 404
        and "Unrecognized request URL (GET: /v1/nothing)" in unknown.json()["error"]["message"]
    )
    bad_limit = httpx.get(
        f"{emulator_url}/v1/customers?limit=500", headers={"Authorization": f"Bearer {key}"}
    )
    assert bad_limit.status_code == 400 and bad_limit.json()["error"]["param"] == "limit"
    bad_cursor = httpx.get(
        f"{emulator_url}/v1/customers?starting_after=cus_nope", headers={"Authorization": f"Bearer {key}"}
    )
    assert bad_cursor.status_code == 404 and bad_cursor.json()["error"]["param"] == "starting_after"


def test_faults_surface_as_sdk_errors(emulator_url: str) -> None:
    key = new_account_key()
    client = stripe.StripeClient(key, base_addresses={"api": emulator_url}, max_network_retries=0)
    inject_faults(emulator_url, key, status=500, count=1)
    with pytest.raises(stripe.APIError) as server_error:
        client.v1.customers.list()
    assert server_error.value.http_status == 500
    client.v1.customers.list()  # the fault was used up

    inject_faults(emulator_url, key, status=429, count=2, retry_after=7)
    for _ in range(2):
        with pytest.raises(stripe.RateLimitError) as limited:
            client.v1.customers.create({})
        assert limited.value.http_status == 429 and limited.value.headers["Retry-After"] == "7"
    assert client.v1.customers.list().data == []  # the failed creates created nothing

    inject_faults(emulator_url, key, status=500, count=5)
    clear_faults(emulator_url, key)
    client.v1.customers.list()


def test_sdk_retries_through_a_transient_500(emulator_url: str) -> None:
    key = new_account_key()
    retrying = stripe.StripeClient(key, base_addresses={"api": emulator_url}, max_network_retries=2)
    inject_faults(emulator_url, key, status=500, count=1)
    cus = retrying.v1.customers.create({"email": "retry@example.com"})
    assert [c.id for c in retrying.v1.customers.list().data] == [cus.id]  # created once, despite the retries


def test_faults_are_per_account(emulator_url: str) -> None:
    a, b = new_account_key(), new_account_key()
    inject_faults(emulator_url, a, status=500, count=1)
    client_b = stripe.StripeClient(b, base_addresses={"api": emulator_url}, max_network_retries=0)
    client_b.v1.customers.list()  # unaffected
    client_a = stripe.StripeClient(a, base_addresses={"api": emulator_url}, max_network_retries=0)
    with pytest.raises(stripe.APIError):
        client_a.v1.customers.list()


def test_delay_fault_and_latency(emulator_url: str) -> None:
    key = new_account_key()
    client = stripe.StripeClient(key, base_addresses={"api": emulator_url}, max_network_retries=0)
    inject_faults(emulator_url, key, status=None, delay_ms=300)
    started = time.perf_counter()
    client.v1.customers.list()
    assert time.perf_counter() - started >= 0.3
    with running_emulator(latency_ms=150) as slow_url:
        slow = stripe.StripeClient(key, base_addresses={"api": slow_url}, max_network_retries=0)
        started = time.perf_counter()
        slow.v1.customers.list()
        assert time.perf_counter() - started >= 0.15


def test_idempotency_is_per_account_and_covers_errors(emulator_url: str) -> None:
    a = stripe.StripeClient(new_account_key(), base_addresses={"api": emulator_url}, max_network_retries=0)
    b = stripe.StripeClient(new_account_key(), base_addresses={"api": emulator_url}, max_network_retries=0)
    assert (
        a.v1.customers.create({}, {"idempotency_key": "same"}).id
        != b.v1.customers.create({}, {"idempotency_key": "same"}).id
    )
    cus = a.v1.customers.create({})
    # A declined attach is a result Stripe stores: the retry replays the same 402.
    for _ in range(2):
        with pytest.raises(stripe.CardError):
            a.v1.payment_methods.attach(
                "pm_card_chargeDeclined", {"customer": cus.id}, {"idempotency_key": "decline-1"}
            )
    # Validation errors are not stored: fixing nothing but retrying gives the same 400, and a
    # corrected request with a new key works.
    with pytest.raises(stripe.InvalidRequestError):
        a.v1.customers.create({"bogus": "1"}, {"idempotency_key": "bad-1"})  # type: ignore[typeddict-unknown-key]


def test_a_failed_request_changes_nothing(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create({"email": "atomic@example.com", "name": "Before"})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.update(
            cus.id, {"name": "After", "invoice_settings": {"default_payment_method": "pm_nope"}}
        )
    assert client.v1.customers.retrieve(cus.id).name == "Before"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.create({"name": "Ghost", "expand": ["not_a_field"]})
    assert [c.id for c in client.v1.customers.list().data] == [cus.id]
    assert [e.type for e in client.v1.events.list().data] == ["customer.created"]


def test_serve_binds_any_free_port_and_says_where() -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from stripe_emulator.server import serve; serve(port=0)"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        url = line.split(" on ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        deadline = time.monotonic() + 10
        while True:  # the URL is printed just before uvicorn starts accepting
            try:
                assert httpx.get(f"{url}/_emulator/health").json() == {"status": "ok"}
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.02)  # polling for readiness, bounded by the deadline
    finally:
        proc.terminate()
        proc.wait(timeout=10)
