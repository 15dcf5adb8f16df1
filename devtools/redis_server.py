"""Is a Redis there? For the tests and benchmarks that need one (they skip, or fail in CI,
with this reason when it is not)."""

from __future__ import annotations

import redis


def unreachable_reason(url: str) -> str | None:
    """None when Redis at `url` answers PING within 2 s, else why not."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        return None
    except redis.RedisError as exc:
        return f"Redis not reachable at {url}: {type(exc).__name__}: {exc}"
