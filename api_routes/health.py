"""Pure ASGI: /healthz, /readyz and /metrics, answered before the framework stack.

Load balancers poll these every few seconds on every process: they must be cheap, need no
credentials, and never be cached (SecurityHeaders adds `Cache-Control: no-store`).

- `GET /healthz` → 200 `{"status": "ok"}` while the process serves requests at all.
- `GET /readyz` → 200 `{"status": "ready", "checks": {"database": "ok", "redis": "ok" | "not configured"}}`
  or 503 `{"status": "unavailable", "checks": {…, "database": "unreachable: <reason>"}}`:
  take this process out of rotation until what is named is back (services/operations.py).
- `GET /metrics` → Prometheus text (api_routes/metrics.py), only with BILLSTACK_METRICS=1;
  otherwise the path is not served (404).
"""

from __future__ import annotations

import json

from starlette.types import Receive, Scope, Send

from api_routes.metrics import Metrics
from billstack import routes
from billstack.services.operations import check_readiness

OPS_PATHS = frozenset({routes.HEALTHZ_PATH, routes.READYZ_PATH, routes.METRICS_PATH})


def is_ops_request(scope: Scope, metrics_on: bool) -> bool:
    if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
        return False  # (a lifespan scope has no path)
    return scope["path"] in OPS_PATHS and (metrics_on or scope["path"] != routes.METRICS_PATH)


class OpsEndpoints:
    def __init__(self, metrics: Metrics | None) -> None:
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path == routes.METRICS_PATH and self.metrics is not None:
            await self.metrics.export(scope, receive, send)
        elif path == routes.READYZ_PATH:
            readiness = await check_readiness()
            body = {"status": "ready" if readiness.ready else "unavailable", "checks": readiness.checks}
            await _json(send, 200 if readiness.ready else 503, body, head=scope["method"] == "HEAD")
        else:
            await _json(send, 200, {"status": "ok"}, head=scope["method"] == "HEAD")


async def _json(send: Send, status: int, body: dict, *, head: bool) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": b"" if head else payload})
