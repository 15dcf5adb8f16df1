"""/healthz and /readyz (api_routes/health.py): answered before the framework, never cached,
and /readyz names what is down — PostgreSQL behind a relay that is stopped and restarted,
a Redis that does not answer."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
import sqlalchemy as sa

from api_routes.fast_paths import FastPaths
from billstack import routes
from billstack.config import reset_settings
from billstack.shared_redis import reset_shared_redis
from devtools.ports import free_port
from tests.redis_support import TEST_REDIS_URL, require_redis

pytestmark = pytest.mark.asyncio


async def framework_must_not_run(scope, receive, send) -> None:  # noqa: ANN001
    raise AssertionError(f"{scope['path']} reached the framework stack")


@asynccontextmanager
async def ops_client(**env: str) -> AsyncIterator[httpx.AsyncClient]:
    """FastPaths over an app that fails if reached: health answers must not need it."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        reset_settings()
        reset_shared_redis()
        try:
            transport = httpx.ASGITransport(app=FastPaths(framework_must_not_run), client=("198.51.100.1", 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://billstack.test") as client:
                yield client
        finally:
            reset_shared_redis()
    reset_settings()


async def test_healthz_is_ok_uncached_and_needs_nothing(db_url: str) -> None:
    async with ops_client(BILLSTACK_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none") as client:
        response = await client.get(routes.HEALTHZ_PATH)
        head = await client.head(routes.HEALTHZ_PATH)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"]
    assert (head.status_code, head.content) == (200, b"")


async def test_readyz_is_ready_with_the_database_and_without_redis(db_url: str) -> None:
    async with ops_client() as client:
        response = await client.get(routes.READYZ_PATH)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "not configured"}}
    assert response.headers["cache-control"] == "no-store"


async def test_readyz_checks_redis_when_configured(db_url: str) -> None:
    require_redis()
    async with ops_client(REFLEX_REDIS_URL=TEST_REDIS_URL) as client:
        up = await client.get(routes.READYZ_PATH)
    assert (up.status_code, up.json()["checks"]) == (200, {"database": "ok", "redis": "ok"})
    async with ops_client(REFLEX_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0") as client:
        down = await client.get(routes.READYZ_PATH)
    assert down.status_code == 503, down.text
    body = down.json()
    assert body["status"] == "unavailable" and body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("unreachable: ")


class TcpRelay:
    """127.0.0.1:`port` → `target`, in threads; `stop()` closes the listener and every open
    connection (as a database host going away does), `start()` listens on the same port again."""

    def __init__(self, target: tuple[str, int], port: int) -> None:
        self.target, self.port = target, port
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def relayed_pg(pg_database: str) -> Iterator[tuple[TcpRelay, str]]:
    url = sa.engine.make_url(pg_database)
    relay = TcpRelay((url.host or "127.0.0.1", url.port or 5432), free_port())
    relay.start()
    try:
        yield relay, url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)
    finally:
        relay.stop()


async def ready_within(client: httpx.AsyncClient, status: int, timeout_s: float = 15.0) -> httpx.Response:
    """Poll /readyz until it answers `status` (a pooled connection may need one failed check to be dropped)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await client.get(routes.READYZ_PATH)
        if response.status_code == status or time.monotonic() > deadline:
            return response


async def test_readyz_turns_503_while_postgresql_is_unreachable_and_200_when_it_returns(
    relayed_pg: tuple[TcpRelay, str],
) -> None:
    relay, url = relayed_pg
    async with ops_client(BILLSTACK_DATABASE_URL=url) as client:
        first = await client.get(routes.READYZ_PATH)
        assert first.status_code == 200, first.text
        assert first.json()["checks"]["database"] == "ok"

        relay.stop()
        started = time.monotonic()
        down = await client.get(routes.READYZ_PATH)  # its pooled connection is cut; a new one is refused
        assert down.status_code == 503, down.text
        assert time.monotonic() - started < 5  # an unreachable database answers quickly, not after a hang
        assert down.json()["status"] == "unavailable"
        assert down.json()["checks"]["database"].startswith("unreachable: ")
        assert down.json()["checks"]["redis"] == "not configured"
        assert down.headers["cache-control"] == "no-store"
        assert (await client.get(routes.HEALTHZ_PATH)).status_code == 200  # alive, just not ready

        relay.start()
        up = await ready_within(client, 200)
        assert up.status_code == 200, up.text
        assert up.json() == {"status": "ready", "checks": {"database": "ok", "redis": "not configured"}}


async def test_lifespan_passes_through_to_the_app() -> None:
    seen: list[str] = []

    async def app(scope, receive, send) -> None:  # noqa: ANN001
        seen.append(scope["type"])
        await send({"type": "lifespan.startup.complete"})

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await FastPaths(app)({"type": "lifespan", "asgi": {"version": "3.0"}}, None, send)
    assert (seen, sent) == (["lifespan"], [{"type": "lifespan.startup.complete"}])
