"""What load balancers and monitoring ask: is this process ready, and how far behind is it.

Readiness (`GET /readyz`): the database answers `SELECT 1`, and Redis (when
REFLEX_REDIS_URL is set) answers PING. Both run in a worker thread under a deadline, so a
database that hangs costs the event loop nothing and the probe a bounded wait; one check
at a time per process (concurrent probes share it), so a hanging database cannot pile up
threads either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from billstack.db import get_engine, session_scope
from billstack.models import WebhookEvent
from billstack.shared_redis import shared_redis

CHECK_TIMEOUT_S = 2.0
OK = "ok"
NOT_CONFIGURED = "not configured"
REASON_MAX = 120


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]  # "database" and "redis": "ok", "not configured" or "unreachable: <reason>"

    @property
    def ready(self) -> bool:
        return all(result in (OK, NOT_CONFIGURED) for result in self.checks.values())


def ping_database() -> str:
    with get_engine().connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    return OK


def ping_redis() -> str:
    client = shared_redis()
    if client is None:
        return NOT_CONFIGURED
    client.ping()
    return OK


class SingleFlight:
    """One run of a blocking check at a time, in a thread, awaited under a deadline by any number of callers."""

    def __init__(self, check: Callable[[], str]) -> None:
        self.check = check
        self._running: asyncio.Future[str] | None = None

    async def __call__(self, timeout_s: float) -> str:
        loop = asyncio.get_running_loop()
        if self._running is None or self._running.done() or self._running.get_loop() is not loop:
            self._running = loop.run_in_executor(None, self.check)
        try:
            return await asyncio.wait_for(asyncio.shield(self._running), timeout_s)
        except TimeoutError:
            return f"unreachable: no answer within {timeout_s:g} s"
        except Exception as exc:  # noqa: BLE001 - any failure of the check is "down", named
            return "unreachable: " + short_reason(exc)


def short_reason(exc: BaseException) -> str:
    """The exception's first meaningful line, short (no URL or secret is in a driver's connect error)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text[:REASON_MAX]


_database = SingleFlight(ping_database)
_redis = SingleFlight(ping_redis)


async def check_readiness(timeout_s: float = CHECK_TIMEOUT_S) -> Readiness:
    database, redis = await asyncio.gather(_database(timeout_s), _redis(timeout_s))
    return Readiness({"database": database, "redis": redis})


# --- webhook queue, for metrics ---------------------------------------------------------------


@dataclass(frozen=True)
class WebhookQueue:
    depth: int  # received, not processed, still to be tried (given-up events are not counted)
    lag_s: float  # age of the oldest such event; 0 when the queue is empty


def webhook_queue(now: datetime) -> WebhookQueue:
    table = WebhookEvent.__table__
    waiting = (table.c.processed_at.is_(None), table.c.next_attempt_at.is_not(None))
    with session_scope() as db:
        depth, oldest = db.execute(
            sa.select(sa.func.count(), sa.func.min(table.c.received_at)).where(*waiting)
        ).one()
    if oldest is None:
        return WebhookQueue(depth, 0.0)
    if oldest.tzinfo is None:  # SQLite hands back naive UTC
        oldest = oldest.replace(tzinfo=UTC)
    return WebhookQueue(depth, max((now - oldest).total_seconds(), 0.0))
