"""DELETE …/portal/{sessionId}, `billstack session revoke`, and the portal security headers."""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from api_routes import create_api
from api_routes.security import frame_ancestors_policy
from billstack.cli import main as cli
from billstack.db import engine_for, session_scope
from billstack.models import AuditEvent, PortalSession
from billstack.services import sessions
from billstack.services.page_policy import page_sources
from billstack.services.tenants import update_project
from tests.api.conftest import Tenant, assert_error, make_tenant

pytestmark = pytest.mark.asyncio


async def create(client: httpx.AsyncClient, tenant: Tenant) -> dict:
    response = await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
    assert response.status_code == 200, response.text
    return response.json()


# --- DELETE ------------------------------------------------------------------------------


async def test_delete_revokes_idempotently(client, tenant: Tenant, db_url: str) -> None:
    created = await create(client, tenant)
    path = f"{tenant.portal_path}/{created['sessionId']}"
    first = await client.delete(path, headers=tenant.auth)
    assert first.status_code == 200, first.text
    assert first.json()["id"] == created["sessionId"] and first.json()["revoked"] is True
    again = await client.delete(path, headers=tenant.auth)
    assert again.status_code == 200 and again.json() == first.json()
    with pytest.raises(sessions.PortalTokenError) as caught, session_scope() as db:
        sessions.validate_portal_token(db, created["token"])
    assert caught.value.code == "token_revoked"
    with Session(engine_for(db_url)) as db:
        events = db.exec(select(AuditEvent).where(AuditEvent.session_id == created["sessionId"])
                         .order_by(AuditEvent.id)).all()
        assert [(e.action, e.api_key_id, e.client_ip) for e in events] == [
            ("portal_session.created", tenant.api_key_id, "203.0.113.7"),
            ("portal_session.revoked", tenant.api_key_id, "203.0.113.7"),
        ]
    for response in (first, again):
        assert response.headers["cache-control"] == "no-store"


async def test_delete_errors(client, tenant: Tenant, sibling_tenant: Tenant) -> None:
    created = await create(client, tenant)
    assert_error(await client.delete(f"{tenant.portal_path}/portal_sess_nope", headers=tenant.auth),
                 404, "resource_missing", "sessionId")
    # The sibling project's key on its own URL cannot reach this project's session …
    response = await client.delete(f"{sibling_tenant.portal_path}/{created['sessionId']}", headers=sibling_tenant.auth)
    assert_error(response, 404, "resource_missing")
    # … nor on this project's URL.
    response = await client.delete(f"{tenant.portal_path}/{created['sessionId']}", headers=sibling_tenant.auth)
    assert_error(response, 403, "permission_denied")
    response = await client.delete(f"{tenant.portal_path}/{created['sessionId']}")
    assert_error(response, 401, "api_key_missing")
    with session_scope() as db:
        assert sessions.validate_portal_token(db, created["token"]).session.revoked_at is None


# --- CLI ---------------------------------------------------------------------------------


async def test_cli_session_revoke(client, tenant: Tenant, db_url: str) -> None:
    created = await create(client, tenant)
    runner = CliRunner()
    result = runner.invoke(cli, ["session", "revoke", created["sessionId"], "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["id"] == created["sessionId"] and data["revoked"] is True and data["revokedAt"].endswith("Z")
    assert data["customerId"] == tenant.customer_id
    again = runner.invoke(cli, ["session", "revoke", created["sessionId"]], catch_exceptions=False)
    assert again.exit_code == 0 and "Revoked portal session" in again.stdout
    with Session(engine_for(db_url)) as db:
        assert db.get(PortalSession, created["sessionId"]).revoked_at is not None
        actions = db.exec(select(AuditEvent.detail).where(AuditEvent.action == "portal_session.revoked")).all()
        assert [json.loads(a) for a in actions] == [{"actor": "cli"}]
    missing = runner.invoke(cli, ["session", "revoke", "portal_sess_nope"], catch_exceptions=False)
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    assert "portal_sess_nope" in missing.stderr


# --- security headers on portal pages and the portal API ---------------------------------


def reflex_stub() -> Starlette:
    """Stands in for the Reflex backend that `rx.App(api_transformer=…)` mounts at ""."""

    async def page(request):
        return HTMLResponse("<html>portal page</html>", headers={"Cache-Control": "public, max-age=600"})

    async def events(websocket: WebSocket):
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    return Starlette(routes=[Route("/portal/{token}", page), Route("/", page), WebSocketRoute("/_event", events)])


def directive(response: httpx.Response, name: str) -> str | None:
    """One directive's sources in the response's Content-Security-Policy."""
    for part in response.headers["content-security-policy"].split(";"):
        key, _, value = part.strip().partition(" ")
        if key == name:
            return value
    return None


def served_app() -> Starlette:
    app = create_api()
    app.mount("", reflex_stub())  # exactly what Reflex does with an api_transformer
    return app


async def test_portal_page_gets_the_projects_frame_ancestors(tenant: Tenant, db_url: str) -> None:
    with session_scope() as db:
        update_project(db, tenant.project_id, frame_ancestors="'self' https://app.example.com")
    transport = httpx.ASGITransport(app=served_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://billstack.test") as http:
        created = await create(http, tenant)
        page = await http.get(f"/portal/{created['token']}")
        assert page.status_code == 200 and "portal page" in page.text  # fell through to "Reflex"
        assert directive(page, "frame-ancestors") == "'self' https://app.example.com"  # the full page policy: test_csp.py
        assert "x-frame-options" not in page.headers
        assert page.headers["cache-control"] == "no-store"  # replaces the page's own caching
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["x-content-type-options"] == "nosniff"

        api = await http.get(f"/api/portal/{created['token']}")  # whatever the portal API answers
        assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"  # JSON: strict
        assert api.headers["cache-control"] == "no-store"

        for bad in ("garbage", created["token"][:-3] + "abc"):
            page = await http.get(f"/portal/{bad}")
            assert directive(page, "frame-ancestors") == "'none'"
            assert page.headers["x-frame-options"] == "DENY"
            assert page.headers["cache-control"] == "no-store"

        home = await http.get("/")  # outside /portal and /api: the same headers, framing refused
        assert home.status_code == 200 and directive(home, "frame-ancestors") == "'none'"
        assert home.headers["cache-control"] == "no-store"

        unknown = await http.get("/api/nothing")  # /api stays ours even with "Reflex" mounted
        assert_error(unknown, 404, "not_found")


async def test_default_frame_ancestors_is_none(client, tenant: Tenant) -> None:
    created = await create(client, tenant)
    page = await client.get(f"/portal/{created['token']}")
    assert directive(page, "frame-ancestors") == "'none'"


async def test_websockets_pass_through_untouched(db_url: str) -> None:
    incoming = [{"type": "websocket.connect"}]
    sent: list[dict] = []

    async def receive() -> dict:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "path": "/_event", "raw_path": b"/_event",
             "root_path": "", "scheme": "ws", "query_string": b"", "headers": [], "subprotocols": [],
             "server": ("billstack.test", 80), "client": ("192.0.2.1", 5000)}
    await served_app()(scope, receive, send)
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
    assert sent[1]["text"] == "hello"
    assert not sent[0].get("headers")


async def test_unsafe_stored_policy_falls_back_to_none(tenant: Tenant, db_url: str) -> None:
    with Session(engine_for(db_url)) as db:  # bypassing the service's validation on purpose
        from billstack.models import Project

        project = db.get(Project, tenant.project_id)
        project.frame_ancestors = "https://a.example; script-src *"
        db.add(project)
        db.commit()
    with session_scope() as db:
        assert frame_ancestors_policy(page_sources(db, tenant.project_id).frame_ancestors) == "'none'"
        assert page_sources(db, "proj_missing") is None
        assert frame_ancestors_policy(None) == "'none'"  # what security.py gives an unknown project
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        ok = make_tenant(db, label="h", frame_ancestors="https://*.example.com")
    with session_scope() as db:
        assert frame_ancestors_policy(page_sources(db, ok.project_id).frame_ancestors) == "https://*.example.com"
    assert frame_ancestors_policy("  'self' https://a.example  ") == "'self' https://a.example"
    assert frame_ancestors_policy("https://a.example\r\nSet-Cookie: x") == "'none'"
