"""Regression tests of the defects the fuzz suites found: each was a 500 (or an answer that
did not match the documentation) before its fix."""

from __future__ import annotations

import httpx
import pytest

from billstack import routes
from billstack.db import session_scope
from billstack.services import tenants
from tests.api.conftest import Tenant, api, assert_error, client, fresh_process_state, tenant  # noqa: F401 - fixtures
from tests.portal_world import World, world  # noqa: F401 - fixture

pytestmark = pytest.mark.asyncio

MALFORMED_IPV6 = ["https://[::1/account", "http://[", "https://a]b/"]


@pytest.mark.parametrize("return_url", MALFORMED_IPV6)
async def test_a_return_url_with_a_malformed_ipv6_host_is_a_400_not_a_500(
    client: httpx.AsyncClient, tenant: Tenant, return_url: str
) -> None:
    # urlsplit raises ValueError("Invalid IPv6 URL") for these; it escaped check_return_url.
    response = await client.post(tenant.portal_path, headers=tenant.auth,
                                 json={"customerId": tenant.customer_id, "returnUrl": return_url})
    assert_error(response, 400, "parameter_invalid", "returnUrl")


async def test_a_card_checkout_return_url_with_a_malformed_ipv6_host_is_a_400(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(f"/api/portal/{world.alice.token}/setup-intent",
                                 json={"returnUrl": MALFORMED_IPV6[0]})
    assert_error(response, 400, "parameter_invalid", "returnUrl")


# PostgreSQL refuses a NUL in text and an integer beyond its column (SQLSTATE class 22): it was
# a 500 wherever a request's value reached a query. SQLite compares anything, so there the same
# requests find nothing (404) or list nothing (200); never a 500.
NUL_BODIES = [{"customerId": "pc_\x00"}, {"externalId": "user\x0042"}, {"stripeCustomerId": "cus_\x00"}]


@pytest.mark.parametrize("body", NUL_BODIES, ids=["customerId", "externalId", "stripeCustomerId"])
async def test_a_nul_in_a_customer_key_is_a_4xx_not_a_500(client: httpx.AsyncClient, world: World, body: dict) -> None:
    # The emulator's project: on SQLite an unknown `cus_…` is looked up in (its) Stripe.
    with session_scope() as db:
        _key, api_key = tenants.create_api_key(db, project_id=world.project_id)
    response = await client.post(routes.portal_sessions_path(world.team_id, world.project_id),
                                 headers={"Authorization": f"Bearer {api_key}"}, json=body)
    assert_error(response, response.status_code)
    assert response.status_code in (400, 404), response.text


@pytest.mark.parametrize("suffix", ["/customers/pc_%00x", "/customers?externalId=a%00b",
                                    "/customers?stripeCustomerId=cus_%00", "/customers?email=a%00b%40example.com",
                                    "/portal/portal_sess_%00"])
async def test_a_nul_in_a_path_or_query_of_the_key_apis_is_a_4xx_not_a_500(
    client: httpx.AsyncClient, tenant: Tenant, suffix: str
) -> None:
    url = tenant.portal_path.removesuffix("/portal") + suffix
    method = "DELETE" if suffix.startswith("/portal/") else "GET"
    response = await client.request(method, url, headers=tenant.auth)
    assert response.status_code in (200, 400, 404), response.text
    if response.status_code != 200:
        assert_error(response, response.status_code)
