"""Portal API (DESIGN.md §4.3) over HTTP: token-authenticated, camelCase, one error shape."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from billstack.services.views import PortalView
from billstack.config import get_settings
from tests.api.conftest import assert_error
from tests.portal_world import World, mirror_snapshot, new_token, submit_checkout, world  # noqa: F401 - fixture

pytestmark = pytest.mark.asyncio


def _base(person) -> str:
    return f"/api/portal/{person.token}"


async def _get_view(client: httpx.AsyncClient, person) -> dict:
    response = await client.get(_base(person))
    assert response.status_code == 200, response.text
    return response.json()


async def test_get_returns_the_whole_view_in_camel_case_and_nothing_of_another_customer(
    client: httpx.AsyncClient, world: World
) -> None:
    body = await _get_view(client, world.alice)

    assert set(body) == {field.alias for field in PortalView.model_fields.values()}
    assert body["customerId"] == world.alice.customer_id and body["customerEmail"] == "alice@example.com"
    assert {s["id"] for s in body["subscriptions"]} == set(world.alice.seeded["subscriptions"])
    sub = body["subscriptions"][0]
    assert {"productName", "unitAmount", "currency", "interval", "cancelAtPeriodEnd", "currentPeriodEnd"} <= set(sub)
    assert sub["currentPeriodEnd"].endswith("Z")
    assert len(body["invoices"]["invoices"]) == 10 and body["invoices"]["hasMore"] is True
    assert body["paymentMethods"] == [{
        "id": world.alice.seeded["payment_method"], "brand": "visa", "last4": "4242",
        "expMonth": body["paymentMethods"][0]["expMonth"], "expYear": body["paymentMethods"][0]["expYear"],
        "isDefault": True,
    }]
    assert body["features"] == {"cancel": True, "resume": True, "invoiceHistory": True, "paymentMethodUpdate": True,
                                "planChange": False, "customerUpdate": ["name", "email", "address", "phone", "tax_id"],
                                "paymentMethodRemove": True, "pause": False, "promotionCode": False}
    assert body["customer"]["id"] == world.alice.customer_id
    assert body["customer"]["details"] == {"name": "Alice Example", "email": "alice@example.com", "phone": None,
                                           "address": None, "taxIds": []}
    assert body["branding"]["displayName"] == "Acme Cloud" and body["stale"] is False

    bob = world.bob.seeded
    for foreign in [world.bob.customer_id, bob["customer"], bob["payment_method"], *bob["subscriptions"],
                    *bob["invoices"], "bob@example.com"]:
        assert foreign not in str(body)


async def test_cancel_and_resume_through_patch(client: httpx.AsyncClient, world: World) -> None:
    sub_id = world.alice.seeded["subscriptions"][0]
    url = f"{_base(world.alice)}/subscriptions/{sub_id}"

    response = await client.patch(url, json={"cancelAtPeriodEnd": True, "reason": "unused"})

    assert response.status_code == 200, response.text
    assert response.json()["id"] == sub_id and response.json()["cancelAtPeriodEnd"] is True
    stripe_sub = world.stripe.v1.subscriptions.retrieve(sub_id)
    assert stripe_sub.cancel_at_period_end is True and stripe_sub.cancellation_details.feedback == "unused"
    view = await _get_view(client, world.alice)
    assert next(s for s in view["subscriptions"] if s["id"] == sub_id)["cancelAtPeriodEnd"] is True

    response = await client.patch(url, json={"cancelAtPeriodEnd": False})

    assert response.status_code == 200 and response.json()["cancelAtPeriodEnd"] is False
    assert world.stripe.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False


async def test_a_retry_with_the_same_idempotency_key_gets_the_same_answer(
    client: httpx.AsyncClient, world: World
) -> None:
    url = f"{_base(world.alice)}/subscriptions/{world.alice.seeded['subscriptions'][1]}"
    headers = {"Idempotency-Key": "2f1c0c8e-retry"}
    first = await client.patch(url, json={"cancelAtPeriodEnd": True}, headers=headers)
    retry = await client.patch(url, json={"cancelAtPeriodEnd": True}, headers=headers)
    assert first.status_code == retry.status_code == 200
    assert first.json() == retry.json()
    # The same key for a different request is refused, as Stripe refuses it.
    other = await client.patch(url, json={"cancelAtPeriodEnd": True, "reason": "other"}, headers=headers)
    assert_error(other, 409, "idempotency_error")


async def test_another_customers_ids_are_404(client: httpx.AsyncClient, world: World) -> None:
    await _get_view(client, world.bob)
    foreign_sub = world.bob.seeded["subscriptions"][0]

    response = await client.patch(f"{_base(world.alice)}/subscriptions/{foreign_sub}", json={"cancelAtPeriodEnd": True})
    assert_error(response, 404, "resource_missing", "subscriptionId")
    assert world.stripe.v1.subscriptions.retrieve(foreign_sub).cancel_at_period_end is False

    response = await client.get(f"{_base(world.alice)}/invoices", params={"startingAfter": world.bob.seeded["invoices"][0]})
    assert_error(response, 404, "resource_missing", "startingAfter")


async def test_bad_bodies_and_tokens_get_the_shared_error_shape(client: httpx.AsyncClient, world: World) -> None:
    url = f"{_base(world.alice)}/subscriptions/{world.alice.seeded['subscriptions'][0]}"
    assert_error(await client.patch(url, json={"cancelAtPeriodEnd": "yes"}), 400, param="cancelAtPeriodEnd")
    assert_error(await client.patch(url, json={}), 400, "parameter_missing", "cancelAtPeriodEnd")
    typo = {"cancelAtPeriodEnd": True, "cancel_at_period_end": True}
    assert_error(await client.patch(url, json=typo), 400, "parameter_unknown", "cancel_at_period_end")
    assert_error(await client.patch(url, json={"cancelAtPeriodEnd": True, "reason": "meh"}), 400, param="reason")
    assert_error(await client.get(f"{_base(world.alice)}/invoices", params={"limit": 0}), 400, param="limit")
    assert_error(await client.get("/api/portal/not-a-token"), 401, "token_invalid")
    assert world.stripe.v1.subscriptions.retrieve(world.alice.seeded["subscriptions"][0]).cancel_at_period_end is False


async def test_invoice_paging_beyond_the_first_ten(client: httpx.AsyncClient, world: World) -> None:
    view = await _get_view(client, world.alice)
    ids = [invoice["id"] for invoice in view["invoices"]["invoices"]]
    page = view["invoices"]
    while page["hasMore"]:
        response = await client.get(f"{_base(world.alice)}/invoices", params={"startingAfter": ids[-1], "limit": 10})
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [invoice["id"] for invoice in page["invoices"]]
    assert len(ids) == len(set(ids)) == len(world.alice.seeded["invoices"]) > 10


async def test_turned_off_features_answer_403(client: httpx.AsyncClient, world: World) -> None:
    world.set_project(feature_cancel=False, feature_invoice_history=False, feature_payment_method_update=False)
    base = _base(world.alice)

    view = await _get_view(client, world.alice)
    assert view["features"] == {"cancel": False, "resume": True, "invoiceHistory": False,
                                "paymentMethodUpdate": False, "planChange": False,
                                "customerUpdate": ["name", "email", "address", "phone", "tax_id"],
                                "paymentMethodRemove": True, "pause": False, "promotionCode": False}
    assert view["invoices"] == {"invoices": [], "hasMore": False}
    sub_url = f"{base}/subscriptions/{world.alice.seeded['subscriptions'][0]}"
    assert_error(await client.patch(sub_url, json={"cancelAtPeriodEnd": True}), 403, "feature_disabled")
    assert_error(await client.get(f"{base}/invoices"), 403, "feature_disabled")
    assert_error(await client.post(f"{base}/setup-intent"), 403, "feature_disabled")
    assert_error(await client.post(f"{base}/setup-intent/complete", json={"checkoutSessionId": "cs_test_x"}),
                 403, "feature_disabled")
    # Resume is still on.
    assert (await client.patch(sub_url, json={"cancelAtPeriodEnd": False})).status_code == 200


async def test_stripe_outage_serves_saved_data_and_refuses_actions_with_503(
    client: httpx.AsyncClient, world: World
) -> None:
    before_view = await _get_view(client, world.alice)
    before = mirror_snapshot(world.alice.customer_id)
    sub_url = f"{_base(world.alice)}/subscriptions/{world.alice.seeded['subscriptions'][0]}"

    with world.stripe_down():
        patch = await client.patch(sub_url, json={"cancelAtPeriodEnd": True})
        during = await _get_view(client, world.alice)
        setup = await client.post(f"{_base(world.alice)}/setup-intent")

    assert_error(patch, 503, "stripe_unavailable")
    assert_error(setup, 503, "stripe_unavailable")
    assert during["subscriptions"] == before_view["subscriptions"]
    assert mirror_snapshot(world.alice.customer_id) == before
    assert world.stripe.v1.subscriptions.retrieve(world.alice.seeded["subscriptions"][0]).cancel_at_period_end is False


async def test_a_forced_refresh_during_an_outage_is_marked_stale(client: httpx.AsyncClient, world: World) -> None:
    """A plain GET reads the mirror once synced; `?refresh=true` asks Stripe, and says when it could not."""
    fresh = await client.get(_base(world.alice), params={"refresh": "true"})
    assert fresh.status_code == 200 and fresh.json()["stale"] is False

    with world.stripe_down():
        during = await client.get(_base(world.alice), params={"refresh": "true"})

    assert during.status_code == 200
    assert during.json()["stale"] is True and during.json()["notices"] == ["stripe_unavailable"]
    assert during.json()["subscriptions"] == fresh.json()["subscriptions"]
    assert during.json()["syncedAt"] == fresh.json()["syncedAt"]


async def test_payment_method_update_round_trip(client: httpx.AsyncClient, world: World) -> None:
    base = _base(world.alice)
    await _get_view(client, world.alice)

    response = await client.post(f"{base}/setup-intent")
    assert response.status_code == 200, response.text
    checkout = response.json()
    assert set(checkout) == {"id", "url"} and checkout["id"].startswith("cs_")
    assert checkout["url"].startswith(world.emulator_url)

    landed = submit_checkout(checkout["url"])
    assert landed.status_code == 303
    portal_url = f"{get_settings().resolved_public_url}/portal/{world.alice.token}"
    location = landed.headers["location"]
    assert location == f"{portal_url}?setup=success&session_id={checkout['id']}"
    session_id = parse_qs(urlsplit(location).query)["session_id"][0]

    response = await client.post(f"{base}/setup-intent/complete", json={"checkoutSessionId": session_id})

    assert response.status_code == 200, response.text
    card = response.json()
    assert (card["brand"], card["last4"], card["isDefault"]) == ("visa", "4242", True)
    assert world.stripe.v1.customers.retrieve(world.alice.stripe_customer_id).invoice_settings.default_payment_method \
        == card["id"]
    for sub_id in world.alice.seeded["subscriptions"]:
        assert world.stripe.v1.subscriptions.retrieve(sub_id).default_payment_method == card["id"]
    view = await _get_view(client, world.alice)
    assert [m["id"] for m in view["paymentMethods"] if m["isDefault"]] == [card["id"]]
    again = await client.post(f"{base}/setup-intent/complete", json={"checkoutSessionId": session_id})
    assert again.status_code == 200 and again.json() == card


async def test_a_canceled_checkout_changes_nothing(client: httpx.AsyncClient, world: World) -> None:
    base = _base(world.alice)
    await _get_view(client, world.alice)
    before = mirror_snapshot(world.alice.customer_id)
    checkout = (await client.post(f"{base}/setup-intent")).json()
    session = world.stripe.v1.checkout.sessions.retrieve(checkout["id"])
    assert session.cancel_url.endswith(f"/portal/{world.alice.token}?setup=canceled")

    # The customer clicks "Cancel and return": Checkout stays unfinished.
    response = await client.post(f"{base}/setup-intent/complete", json={"checkoutSessionId": checkout["id"]})

    assert_error(response, 400, "checkout_session_incomplete", "checkoutSessionId")
    assert mirror_snapshot(world.alice.customer_id) == before
    customer = world.stripe.v1.customers.retrieve(world.alice.stripe_customer_id)
    assert customer.invoice_settings.default_payment_method == world.alice.seeded["payment_method"]


async def test_a_malformed_checkout_session_id_is_a_404_that_never_reaches_stripe(
    client: httpx.AsyncClient, world: World
) -> None:
    url = f"{_base(world.alice)}/setup-intent/complete"
    malformed = ["cs_../../v1/customers", "cs_test_a/b", "cs_", "cs_test_x?expand[]=customer", "cs_test_x\n",
                 "cs_test_a%2Fb", "pi_123"]
    # With Stripe down, any request to it would turn the answer into a 503.
    with world.stripe_down():
        answers = {checkout_id: await client.post(url, json={"checkoutSessionId": checkout_id})
                   for checkout_id in malformed}
        well_formed = await client.post(url, json={"checkoutSessionId": "cs_test_unknown"})
    for checkout_id, response in answers.items():
        error = assert_error(response, 404, "resource_missing", "checkoutSessionId")
        assert error["message"] == f"No such checkout session: '{checkout_id}'.", checkout_id
    assert_error(well_formed, 503, "stripe_unavailable")  # a well-formed id is Stripe's to answer


async def test_setup_intent_return_url_must_be_an_allowed_origin(client: httpx.AsyncClient, world: World) -> None:
    world.set_project(allowed_return_origins="https://app.example.com")
    base = _base(world.alice)
    refused = await client.post(f"{base}/setup-intent", json={"returnUrl": "https://evil.example/x"})
    assert_error(refused, 400, "return_url_not_allowed", "returnUrl")
    allowed = await client.post(f"{base}/setup-intent", json={"returnUrl": "https://app.example.com/billing"})
    assert allowed.status_code == 200, allowed.text
    session = world.stripe.v1.checkout.sessions.retrieve(allowed.json()["id"])
    assert session.success_url == "https://app.example.com/billing?setup=success&session_id={CHECKOUT_SESSION_ID}"


@pytest.mark.parametrize("locale", ["de", "fr", "en"])
async def test_the_card_checkout_speaks_the_sessions_language_and_wears_the_brand(
    client: httpx.AsyncClient, world: World, locale: str
) -> None:
    world.set_project(display_name="Acme Cloud Billing", accent_color="#0a7d33",
                      logo_url="https://acme.example/logo.png")
    token = new_token(world, world.alice, locale=locale)

    response = await client.post(f"/api/portal/{token}/setup-intent", json={})

    assert response.status_code == 200, response.text
    session = world.stripe.v1.checkout.sessions.retrieve(response.json()["id"])
    assert session.locale == locale
    branding = session.branding_settings
    assert (branding.display_name, branding.button_color) == ("Acme Cloud Billing", "#0a7d33")
    assert (branding.logo.type, branding.logo.url) == ("url", "https://acme.example/logo.png")
    page = httpx.get(session.url)
    assert page.status_code == 200 and f'data-checkout-locale="{locale}"' in page.text
    assert "Acme Cloud Billing will save this card" in page.text


async def test_without_a_logo_or_a_locale_checkout_gets_the_name_and_english(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(f"{_base(world.alice)}/setup-intent", json={})

    session = world.stripe.v1.checkout.sessions.retrieve(response.json()["id"])
    assert session.branding_settings.logo is None and session.branding_settings.display_name == "Acme Cloud"
    assert session.locale == "en"
