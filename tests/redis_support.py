"""The Redis the tests use (BILLSTACK_TEST_REDIS_URL, default the local server's db 0).

Tests never depend on a database number being empty: each run writes under a key prefix
(and on a pub/sub channel) of its own. Without Redis a test skips with the reason; with
BILLSTACK_REQUIRE_PG=1 (CI, which runs Redis) it fails instead.
"""

from __future__ import annotations

import os
import uuid

import pytest
import redis

from devtools.redis_server import unreachable_reason

TEST_REDIS_URL = os.environ.get("BILLSTACK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def require_redis(url: str = TEST_REDIS_URL) -> str:
    """`url` once Redis answers there; skips (fails under BILLSTACK_REQUIRE_PG=1) otherwise."""
    reason = unreachable_reason(url)
    if reason:
        if os.environ.get("BILLSTACK_REQUIRE_PG") == "1":
            pytest.fail(f"BILLSTACK_REQUIRE_PG=1 but {reason}")
        pytest.skip(reason)
    return url


def unique_prefix(label: str) -> str:
    """A key prefix no other test run writes under."""
    return f"billstack-test:{label}:{uuid.uuid4().hex[:12]}:"


def delete_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
