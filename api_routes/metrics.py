"""Prometheus metrics (BILLSTACK_METRICS=1), counted per server process, served at /metrics.

Requests are labelled by route template, never by raw path: a path carries portal tokens
and customer ids, which must not reach a monitoring system (and would make a series per
customer). The template is the one the framework routed the request by (Starlette leaves
the matched route in the scope), the session API's fast path names its own, a portal page
is `/portal/{token}`, and anything else is `(static)` (the frontend's files) or `(other)`.

Each process has its own registry: with several workers, each scrape sees the worker that
answered it (sum a counter's rate across scrapes/instances; gauges read the shared database).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billstack import routes
from billstack.services import live
from billstack.services.operations import webhook_queue
from billstack.services.webhooks.events import precise_now

log = logging.getLogger("billstack.metrics")
# Set in the scope by a layer that routes a request itself (the fast path).
ROUTE_TEMPLATE = "billstack.route_template"
PORTAL_PAGE = routes.PORTAL_PREFIX + "{token}"
STATIC, OTHER = "(static)", "(other)"
# Successful POSTs to these create a portal session.
SESSION_CREATING = frozenset({routes.PORTAL_SESSIONS_PATH, routes.STRIPE_PORTAL_SESSIONS_PATH})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def route_template(scope: Scope) -> str:
    if template := scope.get(ROUTE_TEMPLATE):
        return template
    route = scope.get("route")
    if route is not None and not isinstance(route, Mount) and isinstance(getattr(route, "path", None), str):
        return route.path
    if scope["path"].startswith(routes.PORTAL_PREFIX):
        return PORTAL_PAGE
    return STATIC if route is not None else OTHER


class QueueCollector(Collector):
    """Read at scrape time from the database and this process's page watchers."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            queue = webhook_queue(precise_now())
        except Exception:  # noqa: BLE001 - a database outage shows on /readyz; the rest still scrapes
            log.warning("webhook queue metrics skipped: the database did not answer", exc_info=True)
        else:
            yield GaugeMetricFamily("billstack_webhook_queue_depth",
                                    "Stripe webhook events received and waiting to be processed (all processes).",
                                    value=queue.depth)
            yield GaugeMetricFamily("billstack_webhook_queue_lag_seconds",
                                    "Age of the oldest webhook event waiting to be processed (0 when none waits).",
                                    value=queue.lag_s)
        yield GaugeMetricFamily("billstack_live_pages", "Open portal pages this process keeps up to date.",
                                value=live.watch.watched())


class Metrics:
    """Pure ASGI: counts and times every HTTP request; `export` answers GET /metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.registry = CollectorRegistry()
        self.requests = Counter("billstack_http_requests", "HTTP requests answered, by route template and status.",
                                ("method", "route", "status"), registry=self.registry)
        self.latency = Histogram("billstack_http_request_duration_seconds",
                                 "Time to answer an HTTP request, by route template and status.",
                                 ("method", "route", "status"), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.sessions_created = Counter("billstack_portal_sessions_created", "Portal sessions created.",
                                        registry=self.registry)
        self.registry.register(QueueCollector())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            self._observe(scope, status, time.perf_counter() - started)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route, method = route_template(scope), scope["method"]
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)
        if method == "POST" and status == 200 and route in SESSION_CREATING:
            self.sessions_created.inc()

    async def export(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await anyio.to_thread.run_sync(generate_latest, self.registry)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", CONTENT_TYPE_LATEST.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
