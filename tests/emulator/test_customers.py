"""Customers through the real SDK: create → retrieve → list → update → idempotent retry → errors."""

from __future__ import annotations

import pytest
import stripe


def test_create_retrieve_update_list(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create({"email": "ada@example.com", "name": "Ada", "metadata": {"plan": "pro"}})
    assert isinstance(cus, stripe.Customer)
    assert cus.id.startswith("cus_") and cus.object == "customer"
    assert (cus.email, cus.name, cus.metadata.to_dict()) == ("ada@example.com", "Ada", {"plan": "pro"})
    assert cus.invoice_settings.default_payment_method is None

    got = client.v1.customers.retrieve(cus.id)
    assert got.id == cus.id and got.email == "ada@example.com"

    updated = client.v1.customers.update(cus.id, {"name": "Ada L.", "metadata": {"plan": "", "tier": "1"}})
    assert updated.name == "Ada L." and updated.metadata.to_dict() == {"tier": "1"}
    assert client.v1.customers.retrieve(cus.id).name == "Ada L."

    listed = client.v1.customers.list()
    assert [c.id for c in listed.data] == [cus.id]
    assert listed.has_more is False and listed.url == "/v1/customers"


def test_list_paging_and_email_filter(client: stripe.StripeClient) -> None:
    ids = [client.v1.customers.create({"email": f"c{i}@example.com"}).id for i in range(5)]
    newest_first = ids[::-1]
    page1 = client.v1.customers.list({"limit": 2})
    assert [c.id for c in page1.data] == newest_first[:2] and page1.has_more
    page2 = client.v1.customers.list({"limit": 2, "starting_after": page1.data[-1].id})
    assert [c.id for c in page2.data] == newest_first[2:4] and page2.has_more
    page3 = client.v1.customers.list({"limit": 2, "starting_after": page2.data[-1].id})
    assert [c.id for c in page3.data] == newest_first[4:] and not page3.has_more
    back = client.v1.customers.list({"limit": 2, "ending_before": page3.data[0].id})
    assert [c.id for c in back.data] == newest_first[2:4]
    assert [c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()] == newest_first
    assert [c.id for c in client.v1.customers.list({"email": "c3@example.com"}).data] == [ids[3]]


def test_search_by_email_and_metadata(client: stripe.StripeClient) -> None:
    a = client.v1.customers.create({"email": "a@example.com", "metadata": {"ref": "42"}})
    client.v1.customers.create({"email": "b@example.com"})
    found = client.v1.customers.search({"query": "email:'a@example.com' AND metadata['ref']:'42'"})
    assert [c.id for c in found.data] == [a.id]


def test_idempotent_retry_returns_the_stored_response(client: stripe.StripeClient) -> None:
    first = client.v1.customers.create({"email": "x@example.com"}, {"idempotency_key": "create-x"})
    again = client.v1.customers.create({"email": "x@example.com"}, {"idempotency_key": "create-x"})
    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert len(client.v1.customers.list().data) == 1
    with pytest.raises(stripe.IdempotencyError) as exc:
        client.v1.customers.create({"email": "other@example.com"}, {"idempotency_key": "create-x"})
    assert exc.value.http_status == 400
    assert exc.value.error.type == "idempotency_error"


def test_error_paths(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.retrieve("cus_doesnotexist")
    assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
    assert "No such customer" in str(missing.value.user_message)

    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.customers.create({"emial": "typo@example.com"})  # type: ignore[typeddict-unknown-key]
    assert (unknown.value.http_status, unknown.value.code, unknown.value.param) == (
        400,
        "parameter_unknown",
        "emial",
    )

    with pytest.raises(stripe.InvalidRequestError) as bad_pm:
        client.v1.customers.create({"invoice_settings": {"default_payment_method": "pm_missing"}})
    assert bad_pm.value.param == "invoice_settings[default_payment_method]"


def test_delete_leaves_a_tombstone(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create({"email": "gone@example.com"})
    deleted = client.v1.customers.delete(cus.id)
    assert deleted.deleted is True
    assert client.v1.customers.retrieve(cus.id).deleted is True
    assert client.v1.customers.list().data == []
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.update(cus.id, {"name": "zombie"})


def test_missing_and_invalid_keys_are_401(emulator_url: str) -> None:
    for key in ("sk_live_123456789012345", "not-a-key"):
        bad = stripe.StripeClient(key, base_addresses={"api": emulator_url}, max_network_retries=0)
        with pytest.raises(stripe.AuthenticationError) as exc:
            bad.v1.customers.list()
        assert exc.value.http_status == 401
    import httpx

    resp = httpx.get(f"{emulator_url}/v1/customers")
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert "did not provide an API key" in resp.json()["error"]["message"]


def test_accounts_are_isolated(emulator_url: str) -> None:
    from devtools.emulator import new_account_key

    a = stripe.StripeClient(new_account_key(), base_addresses={"api": emulator_url}, max_network_retries=0)
    b = stripe.StripeClient(new_account_key(), base_addresses={"api": emulator_url}, max_network_retries=0)
    cus = a.v1.customers.create({"email": "mine@example.com"})
    assert b.v1.customers.list().data == []
    with pytest.raises(stripe.InvalidRequestError):
        b.v1.customers.retrieve(cus.id)
    with pytest.raises(stripe.InvalidRequestError):
        b.v1.payment_methods.attach("pm_card_visa", {"customer": cus.id})


def test_update_billing_details(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create({"email": "details@example.com"})
    address = {"line1": "1 Rue de la Paix", "city": "Paris", "postal_code": "75002", "country": "fr"}
    updated = client.v1.customers.update(
        cus.id,
        {"address": address, "phone": "+33 1 23 45 67 89", "preferred_locales": ["fr", "en"],
         "shipping": {"name": "Ada", "address": {"line1": "2 Main St", "country": "GB"}}},
    )
    assert updated.address.to_dict() == {
        "line1": "1 Rue de la Paix", "line2": None, "city": "Paris", "state": None, "postal_code": "75002",
        "country": "FR",
    }
    assert (updated.phone, updated.preferred_locales) == ("+33 1 23 45 67 89", ["fr", "en"])
    assert (updated.shipping.name, updated.shipping.address.country) == ("Ada", "GB")
    event = client.v1.events.list({"limit": 1}).data[0]
    assert event.type == "customer.updated" and event.data.object.address.country == "FR"
    assert event.data.previous_attributes.to_dict()["address"] is None
    assert event.data.previous_attributes.to_dict()["phone"] is None


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"address": {"country": "XX"}}, "address[country]", "country_code_invalid"),
        ({"address": {"country": "Germany"}}, "address[country]", "country_code_invalid"),
        ({"address": {"country": "UK"}}, "address[country]", "country_code_invalid"),
        ({"address": {"zip": "1"}}, "address[zip]", "parameter_unknown"),
        ({"email": "not-an-email"}, "email", "email_invalid"),
        ({"email": "a@b"}, "email", "email_invalid"),
        ({"phone": "+1 555 0100 0100 0100 99"}, "phone", "parameter_invalid_string"),
        ({"name": "x" * 257}, "name", "parameter_invalid_string"),
        ({"preferred_locales": ["en", "xx-YY"]}, "preferred_locales[1]", "parameter_invalid_string"),
        ({"shipping": {"name": "Ada"}}, "shipping[address]", "parameter_missing"),
        ({"shipping": {"address": {"line1": "1 St"}}}, "shipping[name]", "parameter_missing"),
        ({"shipping": {"name": "Ada", "address": {"line1": "1 St", "country": "ZZ"}}},
         "shipping[address][country]", "country_code_invalid"),
    ],
)
def test_update_validation_names_the_param(
    client: stripe.StripeClient, params: dict, param: str, code: str
) -> None:
    cus = client.v1.customers.create({"email": "valid@example.com", "name": "Ada"})
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.update(cus.id, params)
    assert (err.value.http_status, err.value.param, err.value.code) == (400, param, code)
    again = client.v1.customers.retrieve(cus.id)
    assert (again.email, again.name, again.address, again.phone, again.shipping) == (
        "valid@example.com", "Ada", None, None, None
    )
    assert [e.type for e in client.v1.events.list().data] == ["customer.created"]
