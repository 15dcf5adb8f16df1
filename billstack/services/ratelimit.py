"""In-process rate limits: a token bucket per key (API key id, client IP, …).

Limits are **per process**: with N server workers a client can get up to N times the
configured rate. That is deliberate — these limits exist to blunt brute force and
runaway integrations cheaply, not to meter usage — and it keeps the request path
free of network round trips. Put a shared limiter (a proxy, or Redis) in front if
an exact global rate matters.

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

import math
import threading
import time
from collections.abc import Callable

from billstack.config import get_settings

# Buckets that have refilled completely carry no information and are dropped when
# the table grows past this many keys, so spraying IPs cannot exhaust memory.
MAX_KEYS = 50_000


class RateLimiter:
    """Token bucket per key: `per_minute` tokens, refilled continuously.

    `limit` is read on every call (settings are cached, so this is cheap), so tests
    and operators changing the setting take effect without rebuilding the limiter.
    Thread-safe: one lock around a dict update (microseconds).
    """

    def __init__(self, limit: Callable[[], int], *, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (tokens left, monotonic time of the last update)
        self._buckets: dict[str, tuple[float, float]] = {}

    def hit(self, key: str) -> int:
        """Spend one token for `key`. Returns 0 if allowed, else seconds to wait (≥ 1)."""
        return self._take(key, spend=True)

    def blocked(self, key: str) -> int:
        """Seconds until `key` may try again (0 = not blocked), without spending a token."""
        return self._take(key, spend=False)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()

    def _take(self, key: str, *, spend: bool) -> int:
        per_minute = self._limit()
        if per_minute <= 0:
            return 0
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


session_creation = RateLimiter(lambda: get_settings().rate_limit_sessions_per_minute)
token_failures = RateLimiter(lambda: get_settings().rate_limit_token_failures_per_minute)
portal_actions = RateLimiter(lambda: get_settings().rate_limit_portal_actions_per_minute)


def reset_all() -> None:
    """Forget all buckets (tests; an operator restarting a worker does the same)."""
    session_creation.reset()
    token_failures.reset()
    portal_actions.reset()
