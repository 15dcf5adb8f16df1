"""With REFLEX_REDIS_URL the session-creation and failed-token limits are the service's,
not the process's: a second app instance (another worker, another host) with no buckets
of its own still answers 429 once the shared count is used up."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from api_routes import create_api
from api_routes.fast_paths import FastPaths
from billstack.config import reset_settings
from billstack.services import ratelimit
from billstack.services.sessions import rate_limit_key
from billstack.shared_redis import reset_shared_redis
from tests.api.conftest import Tenant, assert_error
from tests.redis_support import delete_prefix, require_redis, unique_prefix

pytestmark = pytest.mark.asyncio

LIMIT = 20


@pytest.fixture
def shared_limits(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Limits counted in the test Redis, under a prefix of this test's own."""
    url = require_redis()
    prefix = unique_prefix("api-limits")
    monkeypatch.setenv("REFLEX_REDIS_URL", url)
    monkeypatch.setenv("BILLSTACK_RATE_LIMIT_SESSIONS_PER_MINUTE", str(LIMIT))
    monkeypatch.setenv("BILLSTACK_RATE_LIMIT_TOKEN_FAILURES_PER_MINUTE", "5")
    for limiter in (ratelimit.session_creation, ratelimit.token_failures, ratelimit.portal_actions):
        monkeypatch.setattr(limiter, "prefix", f"{prefix}{limiter.prefix}")
    monkeypatch.setattr(ratelimit, "_redis_health", ratelimit._RedisHealth())
    reset_settings()
    reset_shared_redis()
    yield prefix
    delete_prefix(url, prefix)
    monkeypatch.delenv("REFLEX_REDIS_URL")
    reset_settings()
    reset_shared_redis()


def another_host(client_ip: str = "198.51.100.9") -> httpx.AsyncClient:
    """A fresh app instance, as another worker would run it, with no bucket in this process."""
    ratelimit.reset_all()
    transport = httpx.ASGITransport(app=FastPaths(create_api()), client=(client_ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://billstack.test")


async def test_the_21st_creation_is_429_wherever_it_lands(client, tenant: Tenant, shared_limits: str) -> None:
    body = {"customerId": tenant.customer_id}
    for _ in range(LIMIT):
        response = await client.post(tenant.portal_path, headers=tenant.auth, json=body)
        assert response.status_code == 200, response.text
    async with another_host() as other:
        limited = await other.post(tenant.portal_path, headers=tenant.auth, json=body)
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 3  # 20/min: a token every 3 s
    bucket = redis.Redis.from_url(require_redis()).hgetall(ratelimit.session_creation.prefix + rate_limit_key(tenant.api_key))
    assert float(bucket[b"tokens"]) < 1


async def test_failed_tokens_are_counted_for_the_whole_service(client, tenant: Tenant, shared_limits: str) -> None:
    for _ in range(5):
        assert (await client.get("/api/portal/not-a-token")).status_code == 401
    async with another_host("203.0.113.7") as other:  # the same client address, another worker
        limited = await other.get("/api/portal/not-a-token")
    assert_error(limited, 429, "rate_limited")


async def test_the_hot_path_awaits_the_shared_bucket_and_never_blocks_on_redis(
    client, tenant: Tenant, shared_limits: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With shared limits, session creation spends its key's Redis bucket with an awaited
    call before the unit of work: the blocking client is never used on that path (it would
    hold the event loop, or SQLite's group commit, for a network round trip per request)."""
    def blocking_call(_key: str) -> int:
        raise AssertionError("a blocking Redis call on the session API's hot path")

    monkeypatch.setattr(ratelimit.session_creation, "hit", blocking_call)
    body = {"customerId": tenant.customer_id}
    for _ in range(3):
        response = await client.post(tenant.portal_path, headers=tenant.auth, json=body)
        assert response.status_code == 200, response.text

    bucket_key = ratelimit.session_creation.prefix + rate_limit_key(tenant.api_key)
    bucket = redis.Redis.from_url(require_redis()).hgetall(bucket_key)
    assert LIMIT - 3 <= float(bucket[b"tokens"]) < LIMIT - 2  # three spent (plus a little refill)


async def test_an_unknown_key_spends_only_its_own_shared_bucket(client, tenant: Tenant, shared_limits: str) -> None:
    """The bucket is spent before the key is authenticated, so it is named by the key's
    digest: a forger's guesses cannot use up the real key's budget."""
    forged = {"Authorization": "Bearer bsk_" + "x" * 40}
    body = {"customerId": tenant.customer_id}
    statuses = {(await client.post(tenant.portal_path, headers=forged, json=body)).status_code
                for _ in range(LIMIT + 5)}
    assert statuses == {401, 429}

    response = await client.post(tenant.portal_path, headers=tenant.auth, json=body)
    assert response.status_code == 200, response.text
