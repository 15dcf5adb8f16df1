"""Live updates: wake an open portal page when its customer's mirror changes.

Every write that changes a customer's mirror bumps `customer.mirror_version`
(services/sync.py). A page waits here for that number to move on from the one it
rendered. Two signals, so it works with any number of server processes:

- in-process: webhook processing in this process calls `publish()` right after its
  commit, which wakes the page at once;
- cross-process: one poller per event loop reads the versions of every watched
  customer in a single query every POLL_INTERVAL seconds, so a webhook processed by
  another worker (or `billstack sync`) reaches the page within that time.

Waiters live on asyncio loops; `publish()` may be called from any thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from billstack.db import session_scope
from billstack.models import Customer

log = logging.getLogger("billstack.live")

POLL_INTERVAL = 2.0
_QUERY_CHUNK = 500


@dataclass(eq=False)
class _Waiter:
    customer_id: str
    known_version: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future = field(repr=False)


class MirrorWatch:
    def __init__(self, poll_interval: float = POLL_INTERVAL) -> None:
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._waiters: dict[str, set[_Waiter]] = {}
        self._pollers: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}

    async def wait_for_change(self, customer_id: str, known_version: int, timeout: float) -> int | None:
        """The customer's new mirror version once it differs from `known_version`; None after `timeout` s."""
        loop = asyncio.get_running_loop()
        waiter = _Waiter(customer_id, known_version, loop, loop.create_future())
        with self._lock:
            self._waiters.setdefault(customer_id, set()).add(waiter)
            self._ensure_poller(loop)
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except TimeoutError:
            return None
        finally:
            self._forget(waiter)

    def publish(self, customer_id: str, version: int) -> None:
        """The customer's mirror is now at `version` (thread-safe; wakes waiters that rendered another)."""
        with self._lock:
            waiters = [w for w in self._waiters.get(customer_id, ()) if w.known_version != version]
        for waiter in waiters:
            waiter.loop.call_soon_threadsafe(_resolve, waiter.future, version)

    def watched(self) -> int:
        """How many pages are waiting (for tests and diagnostics)."""
        with self._lock:
            return sum(len(waiters) for waiters in self._waiters.values())

    def _forget(self, waiter: _Waiter) -> None:
        with self._lock:
            waiters = self._waiters.get(waiter.customer_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[waiter.customer_id]

    def _ensure_poller(self, loop: asyncio.AbstractEventLoop) -> None:
        poller = self._pollers.get(loop)
        if poller is None or poller.done():
            self._pollers[loop] = loop.create_task(self._poll(loop), name="billstack-mirror-watch")

    async def _poll(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reads the watched customers' versions until no page on this loop waits any more."""
        while True:
            await asyncio.sleep(self.poll_interval)
            with self._lock:
                ids = {w.customer_id for ws in self._waiters.values() for w in ws if w.loop is loop}
                if not ids:
                    self._pollers.pop(loop, None)
                    return
            try:
                versions = await asyncio.to_thread(read_versions, ids)
            except Exception:  # a database hiccup must not end live updates
                log.warning("live updates: reading mirror versions failed; retrying", exc_info=True)
                continue
            for customer_id, version in versions.items():
                self.publish(customer_id, version)


def read_versions(customer_ids: Iterable[str]) -> dict[str, int]:
    ids = sorted(customer_ids)
    table = Customer.__table__
    versions: dict[str, int] = {}
    with session_scope() as db:
        for start in range(0, len(ids), _QUERY_CHUNK):
            chunk = ids[start : start + _QUERY_CHUNK]
            rows = db.execute(sa.select(table.c.id, table.c.mirror_version).where(table.c.id.in_(chunk)))
            versions.update((row.id, row.mirror_version) for row in rows)
    return versions


def bump_after_commit(db: Session, customer_id: str) -> None:
    """Wake the customer's open pages once this unit of work commits, as a mirror change
    does: the version moves on in the database (pages on other processes see it within
    POLL_INTERVAL) and, after the commit, waiters in this process are woken at once. For
    changes that are not in the mirror but that a page must notice without a click (a
    revoked session: the page re-validates its token and shows the revoked page)."""
    table = Customer.__table__
    db.execute(sa.update(table).where(table.c.id == customer_id).values(mirror_version=table.c.mirror_version + 1))
    version = db.execute(sa.select(table.c.mirror_version).where(table.c.id == customer_id)).scalar_one()
    if _PENDING not in db.info:  # listeners stay with this (short-lived) session
        event.listen(db, "after_commit", _publish_pending)
        event.listen(db, "after_rollback", _drop_pending)
    db.info.setdefault(_PENDING, {})[customer_id] = version


_PENDING = "billstack.live.pending"


def _publish_pending(db: Session) -> None:
    pending, db.info[_PENDING] = db.info.get(_PENDING, {}), {}
    for customer_id, version in pending.items():
        watch.publish(customer_id, version)


def _drop_pending(db: Session) -> None:
    db.info[_PENDING] = {}


def _resolve(future: asyncio.Future, version: int) -> None:
    if not future.done():
        future.set_result(version)


# One per process: webhook processing publishes here, portal pages wait here.
watch = MirrorWatch()
