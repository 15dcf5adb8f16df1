"""SQLite group commit: session creations queued on one event loop share one transaction.

The BEGIN and the COMMIT are the dearest part of a SQLite write; a unit of work is a
fraction of a millisecond of CPU, less than a hop to a worker thread. So creations run
on the loop itself, and those that arrived in the same loop iteration are written
together. If another writer holds the lock (or the pool has no free connection),
nothing waits on the loop: `DatabaseBusy` goes to every waiter of the batch, and the
caller redoes its request in a worker thread, which waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

from billstack.db import get_engine, pool_has_room, raw_connection
from billstack.services.sessions.request import SessionRequest
from billstack.services.sessions.storage import DatabaseBusy, begin_sqlite_write
from billstack.services.sessions.unit import CreatedSession, create_with


class SqliteGroupCommit:
    """Session creations queued on one event loop, written in one SQLite transaction.

    Each creation keeps its own checks, its own savepoint and its own answer; a batch is
    whatever is queued when the loop gets to it (no request waits for others to come).
    """

    MAX_BATCH = 64

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: list[tuple[SessionRequest, asyncio.Future[CreatedSession]]] = []
        self._scheduled = False

    def submit(self, request: SessionRequest) -> asyncio.Future[CreatedSession]:
        future: asyncio.Future[CreatedSession] = self._loop.create_future()
        self._queue.append((request, future))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        batch, self._queue = self._queue[: self.MAX_BATCH], self._queue[self.MAX_BATCH :]
        self._scheduled = bool(self._queue)
        if self._queue:
            self._loop.call_soon(self._flush)
        try:
            written = _write_batch(batch)
        except BaseException as exc:  # every waiter gets the batch's failure
            for _request, future in batch:
                _settle(future, exc=exc)
            if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: not ours to keep
                raise
            return
        for future, created in written:
            _settle(future, result=created)


def _write_batch(
    batch: list[tuple[SessionRequest, asyncio.Future[CreatedSession]]],
) -> list[tuple[asyncio.Future[CreatedSession], CreatedSession]]:
    """One transaction, a savepoint per creation: a creation that fails is answered at
    once (400…500) and rolled back alone; the others are returned once committed."""
    written: list[tuple[asyncio.Future[CreatedSession], CreatedSession]] = []
    engine = get_engine()
    if not pool_has_room(engine):  # the loop must never wait for the pool: the waiters retry in a thread
        raise DatabaseBusy("no database connection is free")
    pooled = raw_connection(engine)
    cursor = pooled.driver_connection.cursor()
    try:
        begin_sqlite_write(pooled.driver_connection, cursor, wait=False)
        for request, future in batch:
            cursor.execute("SAVEPOINT portal_session")
            try:
                created = create_with(cursor, engine.dialect, request)
            except Exception as exc:  # noqa: BLE001 - this request's answer (400…500), not the batch's
                cursor.execute("ROLLBACK TO portal_session")
                _settle(future, exc=exc)
            else:
                written.append((future, created))
            cursor.execute("RELEASE portal_session")
        pooled.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            pooled.rollback()
        raise
    finally:
        cursor.close()
        pooled.close()
    return written


def _settle(future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():  # the client went away; its session (if written) simply expires
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


_group_commits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SqliteGroupCommit] = (
    weakref.WeakKeyDictionary()
)


def group_for(loop: asyncio.AbstractEventLoop) -> SqliteGroupCommit:
    """The loop's group commit (one per event loop, dropped with it)."""
    group = _group_commits.get(loop)
    if group is None:
        group = _group_commits[loop] = SqliteGroupCommit(loop)
    return group
