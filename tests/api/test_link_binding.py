"""Link binding (issue 18, item 1): the first load of /portal/<token> binds the link to that
browser's cookie; the portal API then accepts the token only with it.

The page itself is Reflex's static frontend in production; here a stand-in answers
`/portal/…` with HTML and everything else goes to the real API, all behind `FastPaths`, the
front `billstack serve` runs (api_routes/fast_paths.py).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from http.cookies import SimpleCookie

import httpx
import pytest
import pytest_asyncio
from sqlmodel import Session, select
from starlette.responses import HTMLResponse

from api_routes import create_api
from api_routes.fast_paths import FastPaths
from bench.reflex_client import BROWSER_NAVIGATION
from billstack.client_info import PortalClient
from billstack.clock import utcnow
from billstack.config import reset_settings
from billstack.db import engine_for, session_scope
from billstack.models import AuditEvent, PortalSession
from billstack.secrets_box import digest
from billstack.services import ratelimit, sessions
from billstack.services.sessions import binding, first_load
from tests.api.conftest import Tenant, assert_error, make_tenant

UA = "Mozilla/5.0 (test) Chromium"


def page_and_api():
    api = create_api()

    async def app(scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/portal/"):
            await HTMLResponse("<!doctype html><div id=root></div>")(scope, receive, send)
            return
        await api(scope, receive, send)

    return FastPaths(app)


@pytest_asyncio.fixture
async def site() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=page_and_api(), client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://billstack.test",
                                 headers={"user-agent": UA}) as http:
        yield http


def new_token(tenant: Tenant, **options) -> str:
    with session_scope() as db:
        return sessions.create_portal_session(db, team_id=tenant.team_id, project_id=tenant.project_id, api_key=None,
                                              customer_id=tenant.customer_id, **options).token


def session_row(token: str) -> PortalSession:
    with session_scope() as db:
        return db.get(PortalSession, sessions.decode_token(token)["sid"])


def audit_rows(action: str) -> list[AuditEvent]:
    with session_scope() as db:
        return list(db.exec(select(AuditEvent).where(AuditEvent.action == action)))


def set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


async def open_page(site: httpx.AsyncClient, token: str, **headers: str) -> httpx.Response:
    """A browser's page load (its fetch metadata, unless `headers` say otherwise); the client
    keeps no cookie (each request says what it carries)."""
    response = await site.get(f"/portal/{token}", headers=BROWSER_NAVIGATION | headers)
    site.cookies.clear()
    assert response.status_code == 200
    return response


@pytest.fixture
def none_tenant(db_url: str, tenant: Tenant) -> Tenant:
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        return make_tenant(db, team_id=tenant.team_id, label="n", link_binding="none")


@pytest.mark.asyncio
async def test_the_first_load_sets_the_cookie_once_and_binds_the_session(site, tenant: Tenant) -> None:
    token = new_token(tenant)
    assert session_row(token).bound_secret_hash is None

    first = await open_page(site, token)

    [cookie] = set_cookies(first)
    attributes = [part.strip() for part in cookie.split(";")]
    name, _, secret = attributes[0].partition("=")
    assert name == binding.COOKIE_NAME and len(secret) >= 43
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= set(attributes)
    assert "Secure" not in attributes  # http://…
    max_age = int(next(a for a in attributes if a.startswith("Max-Age="))[len("Max-Age="):])
    assert max_age > sessions.TTL_MAX_MS // 1000  # outlives any session
    row = session_row(token)
    assert row.bound_secret_hash == digest(secret) and row.bound_at is not None
    assert first.headers["cache-control"] == "no-store"  # still behind the security headers

    # A second load without the cookie (another browser, or a cross-site click): nothing new.
    again = await open_page(site, token)
    assert set_cookies(again) == []
    # Nor with it (a reload): never re-issued.
    reload = await open_page(site, token, cookie=f"{binding.COOKIE_NAME}={secret}")
    assert set_cookies(reload) == []
    assert session_row(token).bound_secret_hash == digest(secret)

    [event] = audit_rows(binding.AUDIT_BOUND)
    assert (event.project_id, event.customer_id, event.session_id) == (tenant.project_id, tenant.customer_id,
                                                                        row.id)
    assert (event.client_ip, event.user_agent, event.outcome) == ("203.0.113.7", UA, "ok")


@pytest.mark.asyncio
async def test_the_api_wants_the_cookie_of_a_bound_link(site, tenant: Tenant) -> None:
    token = new_token(tenant)
    invoices = f"/api/portal/{token}/invoices"

    headless = await site.get(invoices)  # never opened in a browser: headless use works
    assert headless.status_code == 200, headless.text

    secret = SimpleCookie(set_cookies(await open_page(site, token))[0])[binding.COOKIE_NAME].value

    with_cookie = await site.get(invoices, headers={"cookie": f"{binding.COOKIE_NAME}={secret}"})
    assert with_cookie.status_code == 200, with_cookie.text
    without = await site.get(invoices)
    error = assert_error(without, 401, "token_used")
    assert "another browser" in error["message"]
    wrong = await site.get(invoices, headers={"cookie": f"{binding.COOKIE_NAME}={first_load.new_secret()}"})
    assert_error(wrong, 401, "token_used")


@pytest.mark.asyncio
async def test_token_used_does_not_count_as_a_failed_guess(site, tenant: Tenant) -> None:
    token = new_token(tenant)
    await open_page(site, token)
    for _ in range(3):
        assert_error(await site.get(f"/api/portal/{token}/invoices"), 401, "token_used")
    assert ratelimit.token_failures.blocked("203.0.113.7") == 0
    assert_error(await site.get("/api/portal/garbage/invoices"), 401, "token_invalid")  # still counted


@pytest.mark.asyncio
async def test_a_browser_that_holds_the_cookie_binds_new_links_to_the_same_secret(site, tenant: Tenant) -> None:
    first, second = new_token(tenant), new_token(tenant)
    secret = SimpleCookie(set_cookies(await open_page(site, first))[0])[binding.COOKIE_NAME].value

    response = await open_page(site, second, cookie=f"{binding.COOKIE_NAME}={secret}")

    assert SimpleCookie(set_cookies(response)[0])[binding.COOKIE_NAME].value == secret
    assert session_row(first).bound_secret_hash == session_row(second).bound_secret_hash == digest(secret)
    for token in (first, second):
        ok = await site.get(f"/api/portal/{token}/invoices", headers={"cookie": f"{binding.COOKIE_NAME}={secret}"})
        assert ok.status_code == 200, ok.text


@pytest.mark.asyncio
async def test_https_gets_a_secure_host_prefixed_cookie(monkeypatch, tenant: Tenant) -> None:
    monkeypatch.setenv("BILLSTACK_PUBLIC_URL", "https://billing.example.com")
    reset_settings()
    token = new_token(tenant)
    transport = httpx.ASGITransport(app=page_and_api(), client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="https://billing.example.com") as http:
        [cookie] = set_cookies(await open_page(http, token))
        http.cookies.clear()
        attributes = [part.strip() for part in cookie.split(";")]
        assert attributes[0].startswith(binding.SECURE_COOKIE_NAME + "=")
        assert {"Secure", "HttpOnly", "SameSite=Strict", "Path=/"} <= set(attributes)
        assert not any(a.lower().startswith("domain=") for a in attributes)
        secret = attributes[0].partition("=")[2]
        ok = await http.get(f"/api/portal/{token}/invoices",
                            headers={"cookie": f"{binding.SECURE_COOKIE_NAME}={secret}"})
        assert ok.status_code == 200, ok.text


@pytest.mark.asyncio
async def test_a_project_without_binding_lets_anyone_in(site, none_tenant: Tenant) -> None:
    token = new_token(none_tenant)

    response = await open_page(site, token)

    assert set_cookies(response) == []
    assert session_row(token).bound_secret_hash is None
    for cookie in ("", f"{binding.COOKIE_NAME}={first_load.new_secret()}"):
        ok = await site.get(f"/api/portal/{token}/invoices", headers={"cookie": cookie} if cookie else {})
        assert ok.status_code == 200, ok.text
    assert audit_rows(binding.AUDIT_BOUND) == []


@pytest.mark.asyncio
async def test_expired_revoked_and_forged_tokens_never_bind(site, tenant: Tenant) -> None:
    expired = new_token(tenant, now=utcnow() - timedelta(hours=2))
    revoked = new_token(tenant)
    with session_scope() as db:
        sessions.revoke_portal_session(db, sessions.decode_token(revoked)["sid"])
    genuine = new_token(tenant)
    forged = genuine[:-4] + ("AAAA" if not genuine.endswith("AAAA") else "BBBB")

    for token in (expired, revoked, forged, "not-a-token"):
        assert set_cookies(await open_page(site, token)) == []
    for token in (expired, revoked):
        assert session_row(token).bound_secret_hash is None
    assert session_row(genuine).bound_secret_hash is None
    assert audit_rows(binding.AUDIT_BOUND) == []


@pytest.mark.asyncio
async def test_only_navigations_bind_not_frames_prefetches_or_scanners(site, tenant: Tenant) -> None:
    token = new_token(tenant)
    # A mail gateway's link scanner (or curl): no fetch metadata — it must not use up the link.
    scanned = await site.get(f"/portal/{token}", headers={"user-agent": "LinkScanner/1.0"})
    assert scanned.status_code == 200 and set_cookies(scanned) == []
    assert set_cookies(await open_page(site, token, **{"sec-fetch-dest": "iframe"})) == []
    assert set_cookies(await open_page(site, token, **{"sec-fetch-dest": "document", "sec-purpose": "prefetch"})) == []
    assert session_row(token).bound_secret_hash is None
    assert set_cookies(await open_page(site, token, **{"sec-fetch-dest": "document", "sec-fetch-mode": "navigate"}))


@pytest.mark.asyncio
async def test_other_paths_and_methods_never_bind(site, tenant: Tenant) -> None:
    token = new_token(tenant)
    assert set_cookies(await site.head(f"/portal/{token}")) == []
    assert set_cookies(await site.get(f"/portal/{token}/extra")) == []
    assert set_cookies(await site.get(f"/api/portal/{token}/invoices")) == []
    assert session_row(token).bound_secret_hash is None


def test_racing_binds_have_exactly_one_winner(db_url: str, tenant: Tenant) -> None:
    token = new_token(tenant)
    racers = 8
    start = threading.Barrier(racers)
    won: list[str] = []
    errors: list[BaseException] = []

    def race(n: int) -> None:
        try:
            start.wait()
            secret = first_load.bind_on_first_load(token, PortalClient.of(f"198.51.100.{n}", UA, None))
            if secret is not None:
                won.append(secret)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(won) == 1
    assert session_row(token).bound_secret_hash == digest(won[0])
    assert len(audit_rows(binding.AUDIT_BOUND)) == 1


def test_validation_refuses_a_bound_session_without_its_cookie(db: Session, tenant: Tenant) -> None:
    token = new_token(tenant, return_url="https://a.example.com/back", locale="de")
    secret = first_load.bind_on_first_load(token)
    assert secret is not None
    db.expire_all()

    ctx = sessions.validate_portal_token(db, token, client=PortalClient(browser_secret=secret))
    assert ctx.client.browser_secret == secret
    for client in (PortalClient(), PortalClient(browser_secret=first_load.new_secret())):
        with pytest.raises(sessions.PortalTokenError) as refused:
            sessions.validate_portal_token(db, token, client=client)
        assert refused.value.code == sessions.TOKEN_USED and refused.value.status == 401
        assert (refused.value.return_url, refused.value.project_id, refused.value.locale) == (
            "https://a.example.com/back", tenant.project_id, "de")


def test_a_refused_use_is_audited_as_denied(db_url: str, tenant: Tenant) -> None:
    token = new_token(tenant)
    first_load.bind_on_first_load(token)
    unbound = new_token(tenant)

    first_load.record_refused_use(token, PortalClient.of("192.0.2.9", UA, None))
    first_load.record_refused_use(unbound, PortalClient.of("192.0.2.9", UA, None))  # not bound: nothing to audit
    first_load.record_refused_use("garbage", PortalClient.of("192.0.2.9", UA, None))

    [event] = audit_rows(binding.AUDIT_LINK_REUSED)
    assert (event.session_id, event.client_ip, event.user_agent, event.outcome) == (
        session_row(token).id, "192.0.2.9", UA, "denied")


def test_the_cookie_header_reader() -> None:
    secret = first_load.new_secret()
    read = binding.secret_from_cookie_header
    assert read(f"a=1; {binding.COOKIE_NAME}={secret}; b=2") == secret
    assert read(f"{binding.COOKIE_NAME}=plain; {binding.SECURE_COOKIE_NAME}={secret}") == secret
    assert read(None) is None and read("") is None and read("other=1") is None
    assert read(f"{binding.COOKIE_NAME}={'x' * 500}") is None


@pytest.mark.asyncio
async def test_a_failed_binding_still_serves_the_page_and_the_next_load_binds(site, tenant: Tenant, monkeypatch) -> None:
    token = new_token(tenant)
    real = first_load.bind_on_first_load

    def busy(*args, **kwargs):
        raise sessions.DatabaseBusy()

    monkeypatch.setattr(first_load, "bind_on_first_load", busy)
    assert set_cookies(await open_page(site, token)) == []
    monkeypatch.setattr(first_load, "bind_on_first_load", real)
    assert set_cookies(await open_page(site, token))
    assert session_row(token).bound_secret_hash is not None
