"""The Redis every process shares, when REFLEX_REDIS_URL is set (Settings.redis_url).

Reflex keeps portal state there already; BillStack adds the service-wide rate limits
(services/ratelimit.py) and the live-update channel (services/live.py), and /readyz
checks it. Without the variable each process keeps those to itself and this module's
`shared_redis()` is None.

One client per process (redis-py pools its connections and is thread-safe); short
timeouts, so a Redis that stops answering costs a request milliseconds, not a hang.
"""

from __future__ import annotations

from functools import lru_cache

import asyncio
import weakref

import redis
import redis.asyncio
import redis.asyncio.retry
from redis.backoff import NoBackoff
from redis.retry import Retry

from billstack.config import get_settings

CONNECT_TIMEOUT_S = 1.0
COMMAND_TIMEOUT_S = 1.0
# Every key BillStack writes starts with this, so it never meets Reflex's state keys.
KEY_PREFIX = "billstack:"


def new_client(url: str) -> redis.Redis:
    """A client with BillStack's timeouts: one immediate retry (a pooled connection that
    Redis closed) and no back-off, since redis-py's default retries a refused
    connection for seconds and every caller here has a fallback."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=COMMAND_TIMEOUT_S,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1),
    )


_client_for = lru_cache(maxsize=4)(new_client)
# redis.asyncio connections belong to the loop that opened them: one client per loop.
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[str, redis.asyncio.Redis]] = (
    weakref.WeakKeyDictionary()
)


def new_async_client(url: str) -> redis.asyncio.Redis:
    """`new_client`'s settings for code on an event loop, which must not block on Redis."""
    from_url = redis.asyncio.Redis.from_url
    return from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_timeout=COMMAND_TIMEOUT_S,
                    health_check_interval=30, retry=redis.asyncio.retry.Retry(NoBackoff(), 1))


def shared_redis() -> redis.Redis | None:
    """This process's client for the shared Redis; None when none is configured."""
    url = get_settings().redis_url
    return _client_for(url) if url else None


def shared_async_redis() -> redis.asyncio.Redis | None:
    """The running loop's client for the shared Redis; None when none is configured."""
    url = get_settings().redis_url
    if not url:
        return None
    loop = asyncio.get_running_loop()
    cached = _async_clients.get(loop)
    if cached is None or cached[0] != url:
        cached = _async_clients[loop] = (url, new_async_client(url))
    return cached[1]


def reset_shared_redis() -> None:
    """Forget cached clients (tests switch REFLEX_REDIS_URL)."""
    _client_for.cache_clear()
    _async_clients.clear()
