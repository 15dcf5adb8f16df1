"""ASGI apps that exist only for the benchmarks (Granian factory targets).

- `sqlite_insert_app`, `postgres_insert_app`: the session API's baseline — a bare Starlette
  endpoint that inserts one row and answers JSON, served by the same Granian settings.
- `portal_app_with_static_baseline`: exactly what `billstack serve` runs, plus one
  bench-only page, `/_bench/static-portal/<token>`, that renders the same portal data as
  plain server-side HTML. It is the time-to-data baseline "served by the same server";
  production code knows nothing about it.
"""

from __future__ import annotations

import asyncio
import html
import os
import queue
import sqlite3
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

STATIC_PORTAL_PREFIX = "/_bench/static-portal/"
_INSERT_TABLE = "bench_insert"


# --- the session API baseline ---------------------------------------------------------


def _health(_request: Request) -> Response:
    return Response("ok")


def sqlite_insert_app() -> Starlette:
    """One INSERT + COMMIT per request on the event loop, with the app's SQLite pragmas
    (WAL, synchronous=NORMAL): the same durability the session API gets."""
    conn = sqlite3.connect(os.environ["BENCH_SQLITE_PATH"], check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {_INSERT_TABLE} (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")

    async def insert(request: Request) -> Response:
        body = (await request.body()).decode()
        cursor = conn.execute("BEGIN IMMEDIATE")
        cursor.execute(f"INSERT INTO {_INSERT_TABLE} (body) VALUES (?)", (body,))
        conn.execute("COMMIT")
        return JSONResponse({"id": cursor.lastrowid})

    return Starlette(routes=[Route("/insert", insert, methods=["POST"]), Route("/health", _health)])


def postgres_insert_app() -> Starlette:
    """One autocommitted INSERT per request on a pooled psycopg connection in a worker
    thread — the same shape as the session API's PostgreSQL path."""
    import psycopg

    url = os.environ["BENCH_PG_URL"]
    pool: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for _ in range(int(os.environ.get("BENCH_PG_POOL", "16"))):
        pool.put(psycopg.connect(url, autocommit=True))
    setup = pool.get()
    setup.execute(
        f"CREATE TABLE IF NOT EXISTS {_INSERT_TABLE} (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)"
    )
    pool.put(setup)

    def insert_row(body: str) -> int:
        conn = pool.get()
        try:
            return conn.execute(
                f"INSERT INTO {_INSERT_TABLE} (body) VALUES (%s) RETURNING id", (body,)
            ).fetchone()[0]
        finally:
            pool.put(conn)

    async def insert(request: Request) -> Response:
        body = (await request.body()).decode()
        return JSONResponse({"id": await run_in_threadpool(insert_row, body)})

    return Starlette(routes=[Route("/insert", insert, methods=["POST"]), Route("/health", _health)])


# --- the time-to-data baseline page ---------------------------------------------------


def portal_app_with_static_baseline() -> Any:
    from billstack.server import asgi_app

    return StaticPortalBaseline(asgi_app())


class StaticPortalBaseline:
    """Pure ASGI wrapper: the bench page, everything else untouched to the real app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(STATIC_PORTAL_PREFIX):
            token = scope["path"][len(STATIC_PORTAL_PREFIX) :]
            client_ip = (scope.get("client") or (None,))[0]
            # A worker thread, as the portal's own state does for its database work.
            status, page = await asyncio.to_thread(_render_static_portal, token, client_ip)
            body = page.encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"text/html; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                        (b"cache-control", b"no-store"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def _render_static_portal(token: str, client_ip: str | None) -> tuple[int, str]:
    """The data the portal shows after loading (same service calls, same display rows)."""
    from billstack import presenters
    from billstack.client_info import PortalClient
    from billstack.db import session_scope
    from billstack.errors import BillStackError
    from billstack.i18n import catalogue
    from billstack.services import portal, sessions

    try:
        with session_scope() as db:
            ctx = sessions.validate_portal_token(db, token, client=PortalClient(ip=client_ip))
            view = portal.load_portal_view(db, ctx)
    except BillStackError as exc:
        return exc.status, f"<!doctype html><title>Error</title><p>{html.escape(exc.message or '')}</p>"
    locale, features = view.locale, view.features
    labels = catalogue(locale)
    subs = [
        presenters.subscription_row(s, locale, allow_cancel=features.cancel, allow_resume=features.resume)
        for s in view.subscriptions
    ]
    invoices = [presenters.invoice_row(i, locale) for i in view.invoices.invoices]
    cards = [presenters.card_row(m, locale) for m in view.payment_methods]
    return 200, _page(view.branding.display_name, labels, subs, invoices, cards, locale)


def _page(app_name: str, labels: dict[str, str], subs: list, invoices: list, cards: list, locale: str) -> str:
    e = html.escape
    sub_cards = "".join(
        f'<article class="card" data-subscription-id="{e(s.id)}"><h3>{e(s.product)}</h3>'
        f"<span>{e(s.status_label)}</span><p>{e(s.price)}</p><p>{e(s.period_line)}</p>"
        f"<button>{e(labels['subs.cancel'])}</button></article>"
        for s in subs
    )
    card_rows = "".join(f"<li>{e(c.title)} · {e(c.expiry)}</li>" for c in cards)
    invoice_rows = "".join(
        f"<tr><td>{e(i.number)}</td><td>{e(i.date)}</td><td>{e(i.amount)}</td><td>{e(i.status_label)}</td>"
        f'<td><a href="{e(i.pdf_url)}">{e(labels["inv.download"])}</a></td></tr>'
        for i in invoices
    )
    return (
        f'<!doctype html><html lang="{e(locale)}"><head><meta charset="utf-8"><title>Billing</title>'
        "<style>body{font-family:system-ui,sans-serif;max-width:960px;margin:0 auto;padding:24px}"
        ".card{border:1px solid #ddd;border-radius:8px;padding:12px;margin:8px 0}</style></head><body>"
        f"<header><h1>{e(app_name)}</h1></header><main>"
        f'<section id="subscriptions"><h2>{e(labels["subs.heading"])}</h2>{sub_cards}</section>'
        f"<section><h2>{e(labels['pm.heading'])}</h2><ul>{card_rows}</ul></section>"
        f"<section><h2>{e(labels['inv.heading'])}</h2><table>{invoice_rows}</table></section>"
        "</main></body></html>"
    )
