"""Live updates: wake an open portal page when its customer's mirror changes.

Every write that changes a customer's mirror bumps `customer.mirror_version`
(services/sync.py). A page waits here for that number to move on from the one it
rendered. Three signals, so it works with any number of server processes and hosts:

- in-process: a writer in this process calls `publish()` right after its commit
  (webhook processing, `bump_after_commit`, and every mirror write of services/sync.py
  through `publish_after_commit`), which wakes the page at once;
- Redis (when REFLEX_REDIS_URL is set): `publish()` also sends "<customer id> <version>"
  on one channel under shared_redis.KEY_PREFIX, and each process runs one subscriber
  thread that wakes its own waiters at once, so a webhook processed on another host, or
  `billstack sync` run from a shell, reaches the page in milliseconds;
- the database poll, always: one poller per event loop reads the versions of every
  watched customer in a single query every POLL_INTERVAL seconds. Without Redis this is
  how other processes' changes arrive; with Redis it covers a lost connection or a
  message sent while the subscriber was reconnecting.

Waiters live on asyncio loops; `publish()` may be called from any thread (on an event
loop's thread, the Redis send goes to the loop's executor so it never blocks the loop).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import redis
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from billstack.db import session_scope
from billstack.models import Customer
from billstack.shared_redis import KEY_PREFIX, shared_redis

log = logging.getLogger("billstack.live")

POLL_INTERVAL = 2.0
_QUERY_CHUNK = 500
# After the subscriber loses Redis it tries again this often (the poll covers the gap).
RECONNECT_INTERVAL_S = 2.0
# At most one Redis warning per process in this many seconds (publish or subscribe).
WARNING_INTERVAL_S = 60.0
# Redis versions last sent per customer, so two writers reporting one commit send once.
_SENT_MEMORY = 10_000


@dataclass(eq=False)
class _Waiter:
    customer_id: str
    known_version: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future = field(repr=False)


def channel_for(client: redis.Redis) -> str:
    """The live-update channel. Pub/sub ignores database numbers, so the number is in the
    name: two deployments on two databases of one Redis do not hear each other."""
    return f"{KEY_PREFIX}live:{client.connection_pool.connection_kwargs.get('db', 0)}"


class MirrorWatch:
    def __init__(
        self,
        poll_interval: float = POLL_INTERVAL,
        *,
        redis_client: Callable[[], redis.Redis | None] = shared_redis,
        channel: str | None = None,
    ) -> None:
        self.poll_interval = poll_interval
        self._redis_client = redis_client
        self._channel = channel  # None: channel_for(the client)
        self._lock = threading.Lock()
        self._waiters: dict[str, set[_Waiter]] = {}
        self._pollers: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}
        self._sent: dict[str, int] = {}
        self._listener: threading.Thread | None = None
        self._listener_pid = 0
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._warned_at = -WARNING_INTERVAL_S

    async def wait_for_change(self, customer_id: str, known_version: int, timeout: float) -> int | None:
        """The customer's new mirror version once it differs from `known_version`; None after `timeout` s."""
        loop = asyncio.get_running_loop()
        waiter = _Waiter(customer_id, known_version, loop, loop.create_future())
        with self._lock:
            self._waiters.setdefault(customer_id, set()).add(waiter)
            self._ensure_poller(loop)
            self._ensure_listener()
        try:
            return await asyncio.wait_for(waiter.future, timeout)
        except TimeoutError:
            return None
        finally:
            self._forget(waiter)

    def publish(self, customer_id: str, version: int) -> None:
        """The customer's mirror is now at `version`: wakes this process's waiters that
        rendered another and, with Redis, every other process's (thread-safe, never raises)."""
        self.wake(customer_id, version)
        client = self._redis_client()
        if client is None or not self._first_report(customer_id, version):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a worker thread or a CLI process: a round trip is fine here
            self._send(client, customer_id, version)
        else:
            loop.run_in_executor(None, self._send, client, customer_id, version)

    def wake(self, customer_id: str, version: int) -> None:
        """Wakes this process's waiters for `customer_id` that rendered another version."""
        with self._lock:
            waiters = [w for w in self._waiters.get(customer_id, ()) if w.known_version != version]
        for waiter in waiters:
            waiter.loop.call_soon_threadsafe(_resolve, waiter.future, version)

    def watched(self) -> int:
        """How many pages are waiting (for tests and diagnostics)."""
        with self._lock:
            return sum(len(waiters) for waiters in self._waiters.values())

    def listening(self) -> bool:
        """Whether this process is subscribed to the Redis channel (tests and diagnostics)."""
        return self._listening.is_set() and self._listener_pid == os.getpid()

    def close(self) -> None:
        """Stops the subscriber thread (tests; a server's thread ends with its process)."""
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=5)

    def _first_report(self, customer_id: str, version: int) -> bool:
        with self._lock:
            if self._sent.get(customer_id) == version:
                return False
            if len(self._sent) >= _SENT_MEMORY:
                self._sent.clear()
            self._sent[customer_id] = version
            return True

    def _send(self, client: redis.Redis, customer_id: str, version: int) -> None:
        try:
            client.publish(self._channel or channel_for(client), f"{customer_id} {version}")
        except redis.RedisError as exc:  # the poll still carries the change, within POLL_INTERVAL
            self._warn("publishing", exc)

    def _ensure_listener(self) -> None:
        """One subscriber thread per process (threads do not survive a worker's fork)."""
        if self._listener is not None and self._listener.is_alive() and self._listener_pid == os.getpid():
            return
        client = self._redis_client()
        if client is None:
            return
        self._listening.clear()
        self._listener_pid = os.getpid()
        self._listener = threading.Thread(target=self._listen, args=(client,), name="billstack-live-redis",
                                          daemon=True)
        self._listener.start()

    def _listen(self, client: redis.Redis) -> None:
        channel = self._channel or channel_for(client)
        while not self._stop.is_set():
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(channel)
                self._listening.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._on_message(message["data"])
            except redis.RedisError as exc:
                self._listening.clear()
                self._warn("listening", exc)
                self._stop.wait(RECONNECT_INTERVAL_S)
            finally:
                pubsub.close()
        self._listening.clear()

    def _on_message(self, data: bytes | str) -> None:
        text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
        customer_id, _, version = text.partition(" ")
        if version.isdigit():
            self.wake(customer_id, int(version))

    def _warn(self, doing: str, exc: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._warned_at < WARNING_INTERVAL_S:
                return
            self._warned_at = now
        log.warning("live updates: Redis failed while %s (%s: %s); pages still update through the database "
                    "poll every %.0f s", doing, type(exc).__name__, exc, self.poll_interval)

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
                self.wake(customer_id, version)


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
    publish_after_commit(db, customer_id)


def publish_after_commit(db: Session, customer_id: str) -> None:
    """`publish()` the customer's mirror version as this unit of work leaves it, once it
    commits (nothing on a rollback): for writers that have just moved the version on by one."""
    table = Customer.__table__
    version = db.execute(sa.select(table.c.mirror_version).where(table.c.id == customer_id)).scalar_one()
    if _PENDING not in db.info:  # listeners stay with this (short-lived) session
        event.listen(db, "after_commit", _publish_pending)
        event.listen(db, "after_rollback", _drop_pending)
    db.info.setdefault(_PENDING, {})[customer_id] = version
    db.info.setdefault(_BEFORE, {}).setdefault(customer_id, version - 1)


_PENDING = "billstack.live.pending"
_BEFORE = "billstack.live.before"


def own_change(db: Session, customer_id: str) -> tuple[int, int] | None:
    """(version before, version after) of the customer's mirror if this unit of work
    changed it (read before the commit), else None. A page whose action made the change
    and that showed `before` is then current at `after`: it needs no re-render for it."""
    after = db.info.get(_PENDING, {}).get(customer_id)
    return None if after is None else (db.info[_BEFORE][customer_id], after)


def _publish_pending(db: Session) -> None:
    pending, db.info[_PENDING], db.info[_BEFORE] = db.info.get(_PENDING, {}), {}, {}
    for customer_id, version in pending.items():
        watch.publish(customer_id, version)


def _drop_pending(db: Session) -> None:
    db.info[_PENDING], db.info[_BEFORE] = {}, {}


def _resolve(future: asyncio.Future, version: int) -> None:
    if not future.done():
        future.set_result(version)


# One per process: webhook processing publishes here, portal pages wait here.
watch = MirrorWatch()
