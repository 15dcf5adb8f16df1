"""Rate limits: a token bucket per key (API key id, client IP, portal session).

With `REFLEX_REDIS_URL` set, the buckets live in Redis and every process of the service
(any number of workers on any number of hosts) counts against the same ones: a limit of
20 per minute is 20 for the whole service. One Lua script (sent once, then run by its
SHA with EVALSHA) reads, refills and spends a bucket atomically, on the Redis server's
clock (TIME), so hosts whose clocks disagree still agree on the count. Keys sit under
`shared_redis.KEY_PREFIX` and expire once the bucket would be full again, so idle
buckets cost nothing.

Without Redis the buckets are per process: with N workers a client can get up to N
times the configured rate, which still blunts brute force and runaway integrations.

If Redis fails or times out, the call fails open to this process's own bucket (never a
500, never a denied request for want of Redis), a warning is logged at most once a
minute, and Redis is left alone for a moment so an outage does not slow every request
by a timeout.

Three limiters are used:
- `session_creation`: per API key, on `POST …/portal` (BILLSTACK_RATE_LIMIT_SESSIONS_PER_MINUTE);
- `token_failures`: per client IP, on failed portal-token validations
  (BILLSTACK_RATE_LIMIT_TOKEN_FAILURES_PER_MINUTE). Once an IP has used up its
  budget, every failed validation from it answers 429 until the bucket refills, so a
  forger cannot keep guessing; a valid token from that IP still gets through (an
  office behind NAT shares one address).
- `portal_actions`: per portal session, on portal actions — cancel/resume, starting and
  finishing a payment-method update (BILLSTACK_RATE_LIMIT_PORTAL_ACTIONS_PER_MINUTE), so
  one token cannot keep its project's Stripe slots busy (services/portal_calls.py).

A limit of 0 or less disables that limiter.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable

import redis
import redis.asyncio

from billstack.config import get_settings
from billstack.shared_redis import KEY_PREFIX, shared_async_redis, shared_redis

log = logging.getLogger("billstack.ratelimit")

# Buckets that have refilled completely carry no information and are dropped when
# the table grows past this many keys, so spraying IPs cannot exhaust memory.
MAX_KEYS = 50_000
# A bucket refills completely in a minute; a key idle that long is a full bucket.
BUCKET_TTL_S = 61
# After a Redis failure, calls use the local buckets for this long before trying again.
REDIS_RETRY_AFTER_S = 2.0
# At most one "Redis failed" warning per process in this many seconds.
WARNING_INTERVAL_S = 60.0

# KEYS the buckets, one per check, in order (a key may repeat: each check sees the ones
# before it); ARGV capacity (tokens = per-minute limit), spend (1/0), TTL seconds.
# Returns one number per key: 0 (allowed) or the whole seconds to wait (≥ 1). Same
# arithmetic as `_take` below.
TOKEN_BUCKET_LUA = """
if redis.replicate_commands then redis.replicate_commands() end
local capacity = tonumber(ARGV[1])
local rate = capacity / 60.0
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local results = {}
for i, key in ipairs(KEYS) do
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1])
  local at = tonumber(state[2])
  if tokens == nil or at == nil then
    tokens, at = capacity, now
  end
  tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
  if tokens >= 1 then
    if ARGV[2] == '1' then
      redis.call('HSET', key, 'tokens', string.format('%.6f', tokens - 1), 'at', string.format('%.6f', now))
      redis.call('EXPIRE', key, tonumber(ARGV[3]))
    end
    results[i] = 0
  else
    results[i] = math.max(1, math.ceil((1 - tokens) / rate))
  end
end
return results
"""


class _RedisHealth:
    """When Redis last failed, shared by the limiters of a process: one warning, one pause."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failed_at = -math.inf
        self._warned_at = -math.inf

    def usable(self) -> bool:
        return self._clock() - self._failed_at >= REDIS_RETRY_AFTER_S

    def failed(self, exc: Exception) -> None:
        now = self._clock()
        with self._lock:
            self._failed_at = now
            warn = now - self._warned_at >= WARNING_INTERVAL_S
            if warn:
                self._warned_at = now
        if warn:
            log.warning("rate limits: Redis unavailable (%s: %s); counting in this process until it answers",
                        type(exc).__name__, exc)


_redis_health = _RedisHealth()


class RateLimiter:
    """Token bucket per key: `per_minute` tokens, refilled continuously.

    `limit` is read on every call (settings are cached, so this is cheap), so tests
    and operators changing the setting take effect without rebuilding the limiter.
    The shared bucket is in the Redis `redis_client()` returns (None: no Redis, local
    buckets). Thread-safe: the local table is one dict update under a lock.
    """

    def __init__(
        self,
        limit: Callable[[], int],
        *,
        name: str,
        redis_client: Callable[[], redis.Redis | None] = shared_redis,
        async_redis_client: Callable[[], redis.asyncio.Redis | None] = shared_async_redis,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._redis_client = redis_client
        self._async_redis_client = async_redis_client
        self._async_scripts: dict[int, redis.commands.core.AsyncScript] = {}
        self._batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopBatch] = (
            weakref.WeakKeyDictionary()
        )
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (tokens left, monotonic time of the last update)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._script: redis.commands.core.Script | None = None
        # Redis keys are `<prefix><key>`; tests give each run a prefix of its own.
        self.prefix = f"{KEY_PREFIX}ratelimit:{name}:"

    def hit(self, key: str) -> int:
        """Spend one token for `key`. Returns 0 if allowed, else seconds to wait (≥ 1)."""
        return self._check(key, spend=True)

    @property
    def shared(self) -> bool:
        """True when the buckets are the service's, in Redis (else this process's)."""
        return self._redis_client() is not None

    async def hit_async(self, key: str) -> int:
        """`hit` for code on an event loop: the Redis round trip is awaited, so the loop serves
        other requests meanwhile, and the checks made in one turn of the loop go to Redis
        together, in one script call (the session API's hot path: a round trip per batch,
        not per request)."""
        per_minute = self._limit()
        if per_minute <= 0:
            return 0
        client = self._async_redis_client()
        if client is None or not _redis_health.usable():
            return self._take(key, per_minute, spend=True)
        loop = asyncio.get_running_loop()
        batch = self._batches.get(loop)
        if batch is None:
            batch = self._batches[loop] = _LoopBatch(self, loop)
        return await batch.submit(key, client, per_minute)

    async def _spend_shared(self, client: redis.asyncio.Redis, keys: list[str], per_minute: int) -> list[int]:
        """One script call for `keys` in order; on a Redis failure, each is spent locally."""
        if _redis_health.usable():
            try:
                results = await self._async_script_for(client)(
                    keys=[self.prefix + key for key in keys], args=[per_minute, 1, BUCKET_TTL_S])
                return [int(result) for result in results]
            except (redis.RedisError, OSError) as exc:  # fail open, as `hit` does
                _redis_health.failed(exc)
        return [self._take(key, per_minute, spend=True) for key in keys]

    def blocked(self, key: str) -> int:
        """Seconds until `key` may try again (0 = not blocked), without spending a token."""
        return self._check(key, spend=False)

    def reset(self) -> None:
        """Forget this process's buckets (the shared ones in Redis expire by themselves)."""
        with self._lock:
            self._buckets.clear()

    def _check(self, key: str, *, spend: bool) -> int:
        per_minute = self._limit()
        if per_minute <= 0:
            return 0
        client = self._redis_client()
        if client is not None and _redis_health.usable():
            try:
                results = self._script_for(client)(keys=[self.prefix + key],
                                                   args=[per_minute, int(spend), BUCKET_TTL_S], client=client)
                return int(results[0])
            except redis.RedisError as exc:  # fail open: this call counts locally
                _redis_health.failed(exc)
        return self._take(key, per_minute, spend=spend)

    def _script_for(self, client: redis.Redis) -> redis.commands.core.Script:
        script = self._script
        if script is None or script.registered_client is not client:
            script = self._script = client.register_script(TOKEN_BUCKET_LUA)
        return script

    def _async_script_for(self, client: redis.asyncio.Redis) -> redis.commands.core.AsyncScript:
        script = self._async_scripts.get(id(client))
        if script is None or script.registered_client is not client:
            script = self._async_scripts[id(client)] = client.register_script(TOKEN_BUCKET_LUA)
        return script

    def _take(self, key: str, per_minute: int, *, spend: bool) -> int:
        capacity = float(per_minute)
        rate = capacity / 60.0  # tokens per second
        now = self._clock()
        with self._lock:
            tokens, updated = self._buckets.get(key, (capacity, now))
            tokens = min(capacity, tokens + (now - updated) * rate)
            if tokens >= 1.0:
                if spend:
                    tokens -= 1.0
                    if key not in self._buckets and len(self._buckets) >= MAX_KEYS:
                        self._prune(now, rate, capacity)
                    self._buckets[key] = (tokens, now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / rate))

    def _prune(self, now: float, rate: float, capacity: float) -> None:
        full = [k for k, (t, u) in self._buckets.items() if t + (now - u) * rate >= capacity]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= MAX_KEYS:  # still full of active keys: forget the oldest half
            for k in sorted(self._buckets, key=lambda k: self._buckets[k][1])[: MAX_KEYS // 2]:
                del self._buckets[k]


class _LoopBatch:
    """The shared-bucket checks one event loop makes in one turn, sent as one script call
    (as SQLite's group commit does for the writes). A client and a limit change between
    batches only; a batch uses its first check's."""

    MAX_BATCH = 64

    def __init__(self, limiter: RateLimiter, loop: asyncio.AbstractEventLoop) -> None:
        self._limiter = limiter
        self._loop = loop
        self._waiting: list[tuple[str, asyncio.Future[int]]] = []
        self._client: redis.asyncio.Redis | None = None
        self._per_minute = 0

    def submit(self, key: str, client: redis.asyncio.Redis, per_minute: int) -> asyncio.Future[int]:
        future: asyncio.Future[int] = self._loop.create_future()
        if not self._waiting:
            self._client, self._per_minute = client, per_minute
            self._loop.call_soon(self._send)
        self._waiting.append((key, future))
        return future

    def _send(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self.MAX_BATCH], self._waiting[self.MAX_BATCH :]
            task = self._loop.create_task(self._settle(batch, self._client, self._per_minute))
            _pending_batches.add(task)
            task.add_done_callback(_pending_batches.discard)

    async def _settle(self, batch: list[tuple[str, asyncio.Future[int]]], client: redis.asyncio.Redis,
                      per_minute: int) -> None:
        try:
            results = await self._limiter._spend_shared(client, [key for key, _ in batch], per_minute)
        except BaseException as exc:  # every waiter hears of it; nothing is left hanging
            for _key, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_key, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


# Batches in flight, held so the loop does not drop their tasks before they finish.
_pending_batches: set[asyncio.Task] = set()


session_creation = RateLimiter(lambda: get_settings().rate_limit_sessions_per_minute, name="sessions")
token_failures = RateLimiter(lambda: get_settings().rate_limit_token_failures_per_minute, name="token-failures")
portal_actions = RateLimiter(lambda: get_settings().rate_limit_portal_actions_per_minute, name="portal-actions")


def reset_all() -> None:
    """Forget this process's buckets (tests; an operator restarting a worker does the same)."""
    session_creation.reset()
    token_failures.reset()
    portal_actions.reset()
