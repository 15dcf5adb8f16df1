"""The rate limits with REFLEX_REDIS_URL: one count for every process, on Redis's clock,
failing open to the process's own bucket when Redis is down or silent."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from billstack.services import ratelimit
from billstack.services.ratelimit import BUCKET_TTL_S, RateLimiter
from billstack.shared_redis import new_client
from devtools.ports import free_port
from tests.redis_support import delete_prefix, require_redis, unique_prefix

REPO = Path(__file__).resolve().parents[2]

# One worker process: waits until the test says go, then spends `hits` tokens of one key.
WORKER = textwrap.dedent("""
    import sys
    import redis
    from billstack.services.ratelimit import RateLimiter

    url, prefix, hits = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = redis.Redis.from_url(url)
    limiter = RateLimiter(lambda: 20, name="unused", redis_client=lambda: client)
    limiter.prefix = prefix
    client.rpush(prefix + "ready", 1)
    if client.blpop([prefix + "go"], timeout=30) is None:
        sys.exit("no go signal")
    print(sum(1 for _ in range(hits) if limiter.hit("key_1") == 0))
""")


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    value = unique_prefix("ratelimit")
    yield value
    delete_prefix(redis_url, value)


@pytest.fixture(autouse=True)
def fresh_redis_health(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "_redis_health", ratelimit._RedisHealth())


def limiter_on(client: redis.Redis | None, prefix: str, per_minute: int, **kwargs) -> RateLimiter:
    limiter = RateLimiter(lambda: per_minute, name="test", redis_client=lambda: client, **kwargs)
    limiter.prefix = prefix
    return limiter


def test_separate_processes_share_one_limit(redis_url: str, prefix: str) -> None:
    """Three OS processes spend 15 tokens each of one 20/min bucket: 20 pass in all (45 per process)."""
    processes, hits = 3, 15
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, redis_url, prefix, str(hits)], cwd=REPO, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    control = redis.Redis.from_url(redis_url)
    try:
        for _ in range(processes):  # every worker is up before any of them starts
            assert control.blpop([prefix + "ready"], timeout=60) is not None, "a worker did not start"
        control.rpush(prefix + "go", *[1] * processes)
        outputs = [worker.communicate(timeout=60) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    assert [w.returncode for w in workers] == [0] * processes, [err for _, err in outputs]
    allowed = [int(out) for out, _ in outputs]
    assert sum(allowed) == 20, allowed


def test_hit_spends_blocked_only_reads_and_idle_buckets_expire(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    limiter = limiter_on(client, prefix, 2)
    assert limiter.blocked("k") == 0
    assert [limiter.hit("k"), limiter.hit("k")] == [0, 0]
    wait = limiter.hit("k")
    assert 1 <= wait <= 30  # 2/min: one token every 30 s
    assert limiter.blocked("k") == wait or limiter.blocked("k") == wait - 1
    assert limiter.hit("other") == 0  # buckets are per key
    ttl = client.ttl(prefix + "k")
    assert 0 < ttl <= BUCKET_TTL_S
    assert limiter._buckets == {}  # nothing was counted in this process


def test_counts_on_the_redis_clock_not_the_hosts(redis_url: str, prefix: str) -> None:
    """A host clock that leaps an hour per call would refill a local bucket every time."""
    leaps = iter(range(0, 10**9, 3600))
    limiter = limiter_on(redis.Redis.from_url(redis_url), prefix, 3, clock=lambda: float(next(leaps)))
    assert [limiter.hit("k") for _ in range(5)] == [0, 0, 0, 20, 20]


def test_a_limit_of_zero_never_asks_redis(prefix: str) -> None:
    def no_redis() -> redis.Redis:
        raise AssertionError("asked Redis for a disabled limiter")

    limiter = RateLimiter(lambda: 0, name="off", redis_client=no_redis)
    assert [limiter.hit("k") for _ in range(3)] == [0, 0, 0]


def test_a_refused_connection_fails_open_with_one_warning(
    prefix: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "REDIS_RETRY_AFTER_S", 0.0)  # every call tries Redis again
    down = new_client(f"redis://127.0.0.1:{free_port()}")
    limiter = limiter_on(down, prefix, 3)
    with caplog.at_level(logging.WARNING, logger="billstack.ratelimit"):
        results = [limiter.hit("k") for _ in range(6)]
    assert results[:3] == [0, 0, 0] and all(r >= 1 for r in results[3:])  # the local bucket counted
    warnings = [r for r in caplog.records if r.name == "billstack.ratelimit"]
    assert len(warnings) == 1 and "Redis unavailable" in warnings[0].getMessage()


def test_a_silent_redis_times_out_and_is_left_alone_for_a_moment(prefix: str) -> None:
    """A server that accepts and never answers costs one timeout, not one per request."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        silent_redis = redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.3, retry=Retry(NoBackoff(), 0))
        limiter = RateLimiter(lambda: 2, name="t", redis_client=lambda: silent_redis)
        started = time.monotonic()
        assert [limiter.hit("k") for _ in range(3)][:2] == [0, 0]
        assert time.monotonic() - started < 1.5  # one timeout, then straight to the local bucket
    assert limiter._buckets  # counted locally
    assert not ratelimit._redis_health.usable()  # and Redis is skipped until REDIS_RETRY_AFTER_S passes


def test_redis_is_used_again_once_it_answers(redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "REDIS_RETRY_AFTER_S", 0.0)
    up = redis.Redis.from_url(redis_url)
    down = new_client(f"redis://127.0.0.1:{free_port()}")
    current = down
    limiter = RateLimiter(lambda: 5, name="t", redis_client=lambda: current)
    limiter.prefix = prefix
    assert limiter.hit("k") == 0
    current = up
    assert limiter.hit("k") == 0
    assert float(up.hget(prefix + "k", "tokens")) == pytest.approx(4.0, abs=0.01)


def test_checks_made_together_on_a_loop_share_one_script_call(redis_url: str, prefix: str) -> None:
    """The session API's hot path: 30 checks awaited at once on one loop are one round trip
    to Redis, and the bucket still lets exactly 20 through, in order."""
    calls = []

    async def run() -> list[int]:
        client = redis.asyncio.Redis.from_url(redis_url)
        limiter = RateLimiter(lambda: 20, name="test", redis_client=lambda: new_client(redis_url),
                              async_redis_client=lambda: client)
        limiter.prefix = prefix
        spend = limiter._spend_shared

        async def counted(*args):
            calls.append(args)
            return await spend(*args)

        limiter._spend_shared = counted
        try:
            return await asyncio.gather(*(limiter.hit_async("key_1") for _ in range(30)))
        finally:
            await client.aclose()

    results = asyncio.run(run())

    assert results[:20] == [0] * 20 and all(wait >= 1 for wait in results[20:])
    assert len(calls) == 1
