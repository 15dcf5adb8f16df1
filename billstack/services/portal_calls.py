"""Where portal work runs, and how much of it may: one tenant's slow Stripe must not stall the others.

Every portal request — a REST call under /api/portal/{token} and every event of the
Reflex page — goes through `run_portal_call`, the one place where "a validated portal
token + one unit of work" lives:

1. Admission, on the event loop, before any thread is taken. The project and the portal
   session come from the token's signed claims (no database). Work that may wait on
   Stripe is held to BILLSTACK_STRIPE_CONCURRENCY_PER_PROJECT calls in flight per project
   and BILLSTACK_STRIPE_THREADS + BILLSTACK_STRIPE_QUEUE in all; an action (a write to
   Stripe) also to ACTIONS_IN_FLIGHT_PER_TOKEN at once and
   BILLSTACK_RATE_LIMIT_PORTAL_ACTIONS_PER_MINUTE per portal session. Over a limit the
   answer is immediate — 503 `portal_busy` for the project or the server, 429
   `rate_limited` for the session, both with Retry-After — and nothing has waited while
   holding a thread.
2. A thread of this module's own pool: never the event loop's default executor, nor
   anyio's (which the quick database work uses: session creation on PostgreSQL, the sync
   routes, mirror reads). A project whose Stripe answers slowly fills its own slots in
   this pool and no one else's.
3. In that thread the token is validated and the action runs in one session (an action
   that fails is audited in a unit of work of its own: `audit.failures_recorded`), whose
   connection the services give back before each Stripe call (`db.release_connection`):
   waiting on Stripe holds no database connection either. Stripe requests time out
   after BILLSTACK_STRIPE_TIMEOUT_S (stripe_gateway), which bounds how long a slot is held.

Work that only reads the mirror (`Work.MIRROR`) never waits on Stripe: it skips the
limits and runs on anyio's pool with the other quick database work.
"""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import anyio.to_thread
from sqlmodel import Session

from billstack import log_context
from billstack.client_info import PortalClient
from billstack.config import get_settings
from billstack.db import session_scope
from billstack.errors import BillStackError, busy, rate_limited
from billstack.services import audit, live, ratelimit, sessions

T = TypeVar("T")
Action = Callable[[Session, sessions.PortalContext], T]

# A person clicks one button at a time: a couple of actions at once per portal session
# is plenty, and more only lets one session take its project's every Stripe slot.
ACTIONS_IN_FLIGHT_PER_TOKEN = 2
BUSY_RETRY_AFTER_S = 2
_TOTAL = "total"


class Work(enum.Enum):
    MIRROR = "mirror"  # reads BillStack's mirror only: never waits on Stripe
    STRIPE_READ = "stripe_read"  # may read Stripe first (a first open, a refresh)
    ACTION = "action"  # writes to Stripe (cancel/resume, payment method update)


async def run_portal_call(token: str, client: PortalClient, action: Action[T], *, work: Work) -> T:
    """Validate `token` for `client` and run `action(db, ctx)` in one unit of work, in the
    right pool, if the limits above let it in (else BillStackError 503/429 at once)."""
    claims = sessions.decode_token(token)
    if work is Work.MIRROR or claims is None:  # a token that does not decode fails validation, quickly
        return await anyio.to_thread.run_sync(_validated_call, token, client, action)
    slots = _slots(claims, work)
    _admit(slots)
    try:
        if work is Work.ACTION:
            _check_action_rate(claims["sid"])
        future = _stripe_pool().submit(log_context.in_copied_context(_validated_call), token, client, action)
    except BaseException:
        admission.release(slots)
        raise
    # Released when the call ends in its thread (or is dropped unstarted because the
    # caller went away), not when the caller stops waiting.
    future.add_done_callback(lambda _done: admission.release(slots))
    return await asyncio.wrap_future(future)


def with_own_change(action: Action[T]) -> Action[tuple[T, tuple[int, int] | None]]:
    """`action`, also answering how its unit of work moved the customer's mirror version
    (live.own_change): a page that shows all of the action's change from its result adopts
    the new version instead of rendering the mirror again when the change wakes it."""

    def run(db: Session, ctx: sessions.PortalContext) -> tuple[T, tuple[int, int] | None]:
        result = action(db, ctx)
        return result, live.own_change(db, ctx.customer.id)

    return run


def _validated_call(token: str, client: PortalClient, action: Action[T]) -> T:
    # An action that fails is audited too, after its unit of work rolled back (services/audit.py).
    with audit.failures_recorded(), session_scope() as db:
        ctx = sessions.validate_portal_token(db, token, client=client)
        return action(db, ctx)


# --- admission ------------------------------------------------------------------------------


class Admission:
    """Calls in flight per key (thread-safe: slots are taken on event loops and given
    back from pool threads). A call takes a slot under each of its keys' limits, or none."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def admit(self, limits: Mapping[str, int]) -> str | None:
        """Take one slot per key; None if admitted, else the first key whose limit is reached."""
        with self._lock:
            for key, limit in limits.items():
                if self._counts.get(key, 0) >= limit:
                    return key
            for key in limits:
                self._counts[key] = self._counts.get(key, 0) + 1
        return None

    def release(self, keys: Mapping[str, int]) -> None:
        with self._lock:
            for key in keys:
                left = self._counts.get(key, 0) - 1
                if left > 0:
                    self._counts[key] = left
                else:
                    self._counts.pop(key, None)  # so the table holds only keys in use

    def in_flight(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)


admission = Admission()


def project_key(project_id: str) -> str:
    return f"project:{project_id}"


def token_key(session_id: str) -> str:
    return f"session:{session_id}"


def _slots(claims: Mapping[str, Any], work: Work) -> dict[str, int]:
    settings = get_settings()
    slots = {
        _TOTAL: settings.stripe_threads + settings.stripe_queue,
        project_key(claims["pid"]): settings.stripe_concurrency_per_project,
    }
    if work is Work.ACTION:
        slots[token_key(claims["sid"])] = ACTIONS_IN_FLIGHT_PER_TOKEN
    return slots


def _admit(slots: Mapping[str, int]) -> None:
    refused = admission.admit(slots)
    if refused is None:
        return
    if refused.startswith("session:"):
        raise rate_limited(1)
    raise portal_busy()


def _check_action_rate(session_id: str) -> None:
    wait = ratelimit.portal_actions.hit(session_id)
    if wait:
        raise rate_limited(wait)


def portal_busy() -> BillStackError:
    return busy(
        "Too many requests are waiting on Stripe right now. Nothing was changed; please try again in a moment.",
        "portal_busy",
        BUSY_RETRY_AFTER_S,
    )


# --- the pool -------------------------------------------------------------------------------

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _stripe_pool() -> ThreadPoolExecutor:
    """Made on first use, with BILLSTACK_STRIPE_THREADS threads (started as needed)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=get_settings().stripe_threads, thread_name_prefix="billstack-stripe"
            )
        return _pool
