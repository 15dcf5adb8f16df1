"""A forked process (each `billstack serve --workers N` worker) never uses a connection
its parent pooled: on PostgreSQL two processes on one socket corrupt each other's replies
(seen as 500s, 401s for good keys and /readyz timeouts behind nginx)."""

from __future__ import annotations

import os

import sqlalchemy as sa

from billstack.db import engine_for


def test_a_forked_child_opens_its_own_connection_and_the_parent_keeps_its(db_url: str) -> None:
    engine = engine_for(db_url)
    with engine.connect() as conn:  # back in the pool afterwards, as `serve`'s migrations leave it
        parents = conn.connection.dbapi_connection
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
                os.write(write_end, b"shared" if conn.connection.dbapi_connection is parents else b"own")
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    assert os.read(read_end, 16) == b"own"
    # The child left the parent's connection open and usable (the pool may hand out another
    # one next: other tests share this engine, so which one is not the point).
    assert not getattr(parents, "closed", False)
    cursor = parents.cursor()
    cursor.execute("SELECT 1")
    assert cursor.fetchone()[0] == 1
    cursor.close()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
