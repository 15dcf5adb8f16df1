"""The emulator's ASGI app (`create_app`) and its blocking runner (`serve`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from billstack.emulator import api, control, resources  # noqa: F401  (registers the routes)
from billstack.emulator.store import Store
from billstack.emulator.webhooks import DEFAULT_BACKOFF, WebhookDispatcher


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

    from billstack.emulator import hosted

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


def serve(host: str = "127.0.0.1", port: int = 12111, latency_ms: int = 0) -> None:
    """Run the emulator until interrupted (the `billstack emulator` command)."""
    uvicorn.run(create_app(latency_ms), host=host, port=port, log_level="info", access_log=False)
