"""Regression tests of the defects the fuzz suites found: each was a 500 (or an answer that
did not match the documentation) before its fix."""

from __future__ import annotations

import httpx
import pytest

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
