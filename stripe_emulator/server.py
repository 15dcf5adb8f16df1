"""The emulator's ASGI app (`create_app`) and its blocking runner (`serve`)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from stripe_emulator import (
    api,
    control,
    hosted,
    resources,  # noqa: F401  (importing it registers the /v1 routes and renderers)
)
from stripe_emulator.store import Store
from stripe_emulator.webhooks import DEFAULT_BACKOFF, WebhookDispatcher


def create_app(
    latency_ms: int = 0,
    *,
    public_url: str | None = None,
    webhook_backoff: tuple[float, ...] = DEFAULT_BACKOFF,
) -> Starlette:
    """`latency_ms` delays every `/v1` request; `public_url` overrides the base of URLs handed to browsers."""
    store = Store()
    webhooks = WebhookDispatcher(store, backoff=webhook_backoff)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        webhooks.start()
        try:
            yield
        finally:
            webhooks.stop()

    app = Starlette(
        routes=[
            *control.routes,
            *hosted.routes,
            Route("/v1/{path:path}", api.handle, methods=["GET", "POST", "DELETE"]),
        ],
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.webhooks = webhooks
    app.state.latency_ms = latency_ms
    app.state.public_url = public_url.rstrip("/") if public_url else None
    return app


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket (port 0: any free port).

    The protocol must say TCP: asyncio only sets TCP_NODELAY on accepted sockets whose
    `proto` is IPPROTO_TCP, and without it each response waits ~40 ms (Nagle + delayed ACK).
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    return sock


def serve(host: str = "127.0.0.1", port: int = 12111, latency_ms: int = 0) -> None:
    """Run the emulator until interrupted (the `billstack emulator` command)."""
    sock = listening_socket(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    print(
        f"Stripe emulator (test mode) on http://{shown}:{bound_port} — any sk_test_… key is its own account",
        flush=True,
    )
    server = uvicorn.Server(uvicorn.Config(create_app(latency_ms), log_level="info", access_log=False))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
