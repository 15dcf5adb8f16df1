"""Locales through the API (issue 20): the session API takes Stripe's 46 portal locales and
`auto`; an `auto` page speaks the Stripe customer's preferred_locales (mirrored by the sync),
then the browser's Accept-Language, then English; Checkout gets a locale it has."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import Session

from billstack.db import engine_for, session_scope
from billstack.i18n import SUPPORTED_LOCALES
from billstack.models import Customer, PortalSession
from tests.api.conftest import Tenant, assert_error
from tests.portal_world import Person, World, new_token, world  # noqa: F401 - fixture

pytestmark = pytest.mark.asyncio


async def _create(client: httpx.AsyncClient, tenant: Tenant, locale: object) -> httpx.Response:
    return await client.post(tenant.portal_path, headers=tenant.auth,
                             json={"customerId": tenant.customer_id, "locale": locale})


async def test_the_session_api_takes_each_of_the_46_locales_and_auto(client, tenant, db_url) -> None:
    stored = {}
    for locale in (*SUPPORTED_LOCALES, "auto"):
        for given in {locale, locale.lower().replace("-", "_"), locale.upper()}:
            response = await _create(client, tenant, given)
            assert response.status_code == 200, (given, response.text)
            stored[given] = response.json()["sessionId"]
    with Session(engine_for(db_url)) as db:
        for given, session_id in stored.items():
            expected = next(tag for tag in (*SUPPORTED_LOCALES, "auto") if tag.lower() == given.lower().replace("_", "-"))
            assert db.get(PortalSession, session_id).locale == expected, given


@pytest.mark.parametrize("junk", ["<script>", "d3", "en--GB", "pt-BR\n", "x" * 36, 42, ["en"]])
async def test_junk_is_refused_with_the_list(client, tenant, junk) -> None:
    error = assert_error(await _create(client, tenant, junk), 400, param="locale")
    if isinstance(junk, str) and len(junk) <= 35:  # longer ones fail the body's own max length first
        assert "auto" in error["message"] and "pt-BR" in error["message"] and "zh-HK" in error["message"]


def _person(world: World, **session: object) -> Person:
    token = new_token(world, world.alice, **session)
    return Person(world.alice.customer_id, world.alice.stripe_customer_id, world.alice.seeded, token)


async def _locale(client: httpx.AsyncClient, person: Person, accept_language: str | None = None, **query: str) -> str:
    headers = {"accept-language": accept_language} if accept_language else {}
    response = await client.get(f"/api/portal/{person.token}", headers=headers, params=query)
    assert response.status_code == 200, response.text
    return response.json()["locale"]


async def test_an_auto_page_speaks_the_browsers_language(client: httpx.AsyncClient, world: World) -> None:
    person = _person(world)  # no locale: auto
    assert await _locale(client, person, "fi-FI,fi;q=0.9,en;q=0.8") == "fi"
    assert await _locale(client, person, "ar, pt-br;q=0.7, de;q=0.5") == "pt-BR"
    assert await _locale(client, person, "ar, he") == "en"
    assert await _locale(client, person) == "en"
    # A session made with a locale keeps it whatever the browser says.
    assert await _locale(client, _person(world, locale="ja"), "fi") == "ja"


async def test_the_customers_preferred_locales_come_before_the_browsers(client: httpx.AsyncClient, world: World) -> None:
    world.stripe.v1.customers.update(world.alice.stripe_customer_id, {"preferred_locales": ["sv", "de"]})
    person = _person(world, locale="auto")
    assert await _locale(client, person, "fi", refresh="true") == "sv"  # read from Stripe, then mirrored
    with session_scope() as db:
        assert db.get(Customer, world.alice.customer_id).preferred_locales == "sv,de"
    assert await _locale(client, person, "fi") == "sv"  # from the mirror
    assert await _locale(client, _person(world, locale="it"), "fi") == "it"

    world.stripe.v1.customers.update(world.alice.stripe_customer_id, {"preferred_locales": ""})  # Stripe's way to empty a list
    assert await _locale(client, person, "fi", refresh="true") == "fi"
    with session_scope() as db:
        assert db.get(Customer, world.alice.customer_id).preferred_locales is None


@pytest.mark.parametrize(("session", "accept_language", "checkout"),
                         [("en-AU", None, "en-GB"), ("zh-HK", None, "zh-HK"), ("auto", "ja,en;q=0.5", "ja"),
                          ("es-419", None, "es-419")])
async def test_checkout_speaks_the_pages_language(client: httpx.AsyncClient, world: World, session: str,
                                                  accept_language: str | None, checkout: str) -> None:
    person = _person(world, locale=session)
    headers = {"accept-language": accept_language} if accept_language else {}
    response = await client.post(f"/api/portal/{person.token}/setup-intent", json={}, headers=headers)
    assert response.status_code == 200, response.text
    assert world.stripe.v1.checkout.sessions.retrieve(response.json()["id"]).locale == checkout

