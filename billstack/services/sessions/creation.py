"""Creating portal sessions: the entry points, and where each unit of work runs.

Every entry point turns its arguments into one typed `SessionRequest`, which is all the
layers below (group commit, the unit of work, the SQL) pass on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from datetime import datetime
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from billstack.config import get_settings
from billstack.db import get_engine, raw_connection
from billstack.errors import database_busy, rate_limited
from billstack.models import ApiKey
from billstack.services import ratelimit
from billstack.services.sessions import customer_keys
from billstack.services.sessions.api_keys import rate_limit_key
from billstack.services.sessions.flow_owner import SubscriptionNotMirrored, verify_in_stripe
from billstack.services.sessions.group_commit import group_for
from billstack.services.sessions.request import SessionRequest
from billstack.services.sessions.storage import DatabaseBusy
from billstack.services.sessions.unit import CreatedSession, create_on


def create_portal_session(
    db: Session,
    *,
    team_id: str,
    project_id: str,
    api_key: str | ApiKey | None,
    customer_id: str,
    ttl_ms: int | None = None,
    return_url: str | None = None,
    locale: str | None = None,
    flow: dict[str, Any] | None = None,
    client_ip: str | None = None,
    user_agent: str | None = None,
    now: datetime | None = None,
    wait: bool = True,
) -> CreatedSession:
    """Mints a session and its token for a customer of the project, in `db`'s transaction.

    `api_key`: see `SessionRequest` (unknown or revoked → 401, another project's or
    team's → 403). With a key, creation is rate limited per key (429).

    `wait=False` (SQLite only): if another writer holds the database, raise
    `DatabaseBusy` at once instead of waiting — for callers on an event loop, which
    then retry in a worker thread with `wait=True`.
    """
    request = SessionRequest(
        team_id=team_id, project_id=project_id, api_key=api_key, customer_id=customer_id, ttl_ms=ttl_ms,
        return_url=return_url, locale=locale, flow=flow, client_ip=client_ip, user_agent=user_agent,
        now=now,
    )
    if db.new or db.dirty or db.deleted:
        db.flush()  # the raw statements below must see the caller's pending work
    conn = db.connection()
    try:
        return create_on(conn.connection.driver_connection, conn.dialect, request, wait=wait)
    except SubscriptionNotMirrored as miss:
        # Operator tooling's path: the caller's transaction stays open (only reads ran) while
        # Stripe is asked; the session API's paths below hold nothing meanwhile.
        verify_in_stripe(miss)
    return create_on(conn.connection.driver_connection, conn.dialect, _verified(request), wait=wait)


async def create_async(request: SessionRequest) -> CreatedSession:
    """SQLite: on the loop itself, in the loop's group commit (group_commit.py); if another
    writer holds the lock, redone in a worker thread, which waits. A networked database
    (PostgreSQL) always runs in a worker thread.

    The one entry point of the session API and the Stripe-compatible endpoint. A request
    not in the hot path's shape (`SessionRequest.needs_resolution`) is resolved first, in a
    worker thread (customer_keys.py: it may call Stripe)."""
    if request.needs_resolution:
        resolved = await anyio.to_thread.run_sync(customer_keys.resolve, request)
        return _with_resolution(await create_async(resolved.request), resolved)
    request = await _counted_in_shared_limit(request)
    engine = get_engine()
    if engine.dialect.name != "sqlite":
        limiter = _pooled_threads(engine)
        if limiter is None:
            return await anyio.to_thread.run_sync(partial(create_committed, request))
        await _kept_connection(limiter)
        try:
            return await anyio.to_thread.run_sync(partial(create_committed, request))
        finally:
            limiter.release()
    try:
        return await group_for(asyncio.get_running_loop()).submit(request)
    except DatabaseBusy:
        return await anyio.to_thread.run_sync(partial(create_committed, request, wait=True))
    except SubscriptionNotMirrored as miss:  # rolled back to its savepoint: nothing is held
        await anyio.to_thread.run_sync(verify_in_stripe, miss)
    return await create_async(_verified(request))


# The loop the limiter belongs to (a worker runs one; tests run many), the engine whose
# pool it is sized by, and the limiter.
_pool_limiter: tuple[asyncio.AbstractEventLoop, Engine, anyio.CapacityLimiter | None] | None = None


def _pooled_threads(engine: Engine) -> anyio.CapacityLimiter | None:
    """A networked database: at most as many creations in worker threads at once as the
    pool keeps connections. A burst then waits on the loop for a kept connection instead
    of opening an overflow one, which the pool closes again on return: under the bench's
    load (16 at once, a pool of 10) that was one connect per ~40 requests, each a server
    process started and several ms on some request's latency. None: no such limit (a
    pool that keeps none). The other work on the pool may still use its overflow."""
    global _pool_limiter
    loop = asyncio.get_running_loop()
    if _pool_limiter is None or _pool_limiter[0] is not loop or _pool_limiter[1] is not engine:
        limiter = anyio.CapacityLimiter(engine.pool.size()) if isinstance(engine.pool, QueuePool) else None
        _pool_limiter = (loop, engine, limiter)
    return _pool_limiter[2]


async def _kept_connection(limiter: anyio.CapacityLimiter) -> None:
    """A token of `limiter`, waited for on the loop at most as long as a request waits for
    a pooled connection (`BILLSTACK_DB_POOL_TIMEOUT_S`): then 503 `database_busy`, as
    from the pool itself."""
    try:
        limiter.acquire_nowait()
        return
    except anyio.WouldBlock:
        pass
    with anyio.move_on_after(get_settings().db_pool_timeout_s):
        await limiter.acquire()
        return
    raise database_busy()


async def _counted_in_shared_limit(request: SessionRequest) -> SessionRequest:
    """With limits shared in Redis, the key's bucket is spent here, awaited, before the unit
    of work: a blocking round trip inside it would hold the loop (SQLite's group commit)
    or a worker thread for each request. A key that turns out unknown spent only its own
    bucket. Per-process limits are counted inside the unit of work, after authentication."""
    if request.rate_counted or request.subscription_verified or request.api_key is None:
        return request
    if not ratelimit.session_creation.shared:
        return request
    retry_after = await ratelimit.session_creation.hit_async(rate_limit_key(request.api_key))
    if retry_after:
        raise rate_limited(retry_after)
    return dataclasses.replace(request, rate_counted=True)


def create_committed(request: SessionRequest, *, wait: bool = True) -> CreatedSession:
    """One creation as its own unit of work, committed before it returns: a pooled driver
    connection without an ORM session around it (the session API's fast path)."""
    if request.needs_resolution:
        resolved = customer_keys.resolve(request)
        return _with_resolution(create_committed(resolved.request, wait=wait), resolved)
    try:
        return _create_committed(request, wait=wait)
    except SubscriptionNotMirrored as miss:  # rolled back, its connection returned: nothing is held
        verify_in_stripe(miss)
    return _create_committed(_verified(request), wait=wait)


def _with_resolution(created: CreatedSession, resolved: customer_keys.Resolved) -> CreatedSession:
    created.stripe_customer_id = resolved.stripe_customer_id
    created.livemode = resolved.livemode
    return created


def _verified(request: SessionRequest) -> SessionRequest:
    return dataclasses.replace(request, subscription_verified=True)


def _create_committed(request: SessionRequest, *, wait: bool) -> CreatedSession:
    engine = get_engine()
    pooled = raw_connection(engine)
    raw = pooled.driver_connection
    # Over the network every statement is a round trip: the writes are one statement
    # (storage.py's "insert_all"), so in autocommit mode neither BEGIN nor COMMIT is
    # needed — the SELECT and the write are each atomic, and together no weaker than the
    # READ COMMITTED transaction they replace. A key this process has seen pass needs no
    # SELECT either (storage.insert_if_unchanged): one round trip, one atomic statement.
    # SQLite keeps its explicit transaction.
    autocommit = engine.dialect.name == "postgresql" and not raw.autocommit
    try:
        if autocommit:
            raw.autocommit = True
        created = create_on(raw, engine.dialect, request, wait=wait)
        pooled.commit()
        return created
    except BaseException:
        with contextlib.suppress(Exception):
            pooled.rollback()
        raise
    finally:
        if autocommit:
            with contextlib.suppress(Exception):
                raw.autocommit = False
        pooled.close()
