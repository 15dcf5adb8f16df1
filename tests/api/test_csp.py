"""The Content-Security-Policy and HSTS headers (api_routes/csp.py, api_routes/security.py).

Pages get the full policy, per project: script hashes of the built HTML's inline scripts
(here a stand-in build with two), the project's logo origin, its Checkout origin, the
public URL's websocket; nothing else gets more than `default-src 'none'`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from api_routes import create_api, csp, security
from billstack.config import reset_settings
from billstack.db import engine_for, session_scope
from billstack.models import Project
from billstack.services.tenants import update_project
from tests.api.conftest import Tenant

pytestmark = pytest.mark.asyncio

THEME_SCRIPT = "\nconsole.log('theme');\n"
MODULE_SCRIPT = 'import "/assets/manifest.js";'
BUILT_PAGE = (f"<html><head><script>{THEME_SCRIPT}</script><script src=\"/assets/a.js\"></script></head>"
              f"<body><style>.x{{}}</style><script type=\"module\" async=\"\">{MODULE_SCRIPT}</script></body></html>")
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def page_policy(*, hashes: str, images: str, connect: str, forms: str, frame_ancestors: str = "'none'") -> str:
    return (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
            f"style-src-attr 'none'; img-src {images}; font-src 'self'; connect-src {connect}; object-src 'none'; "
            f"base-uri 'none'; form-action {forms}; frame-ancestors {frame_ancestors}")


def policy_of(response: httpx.Response) -> str:
    policies = response.headers.get_list("content-security-policy")
    assert len(policies) == 1, policies
    return policies[0]


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in frontend build: one HTML file with two inline scripts (and one with src)."""
    client_dir = tmp_path / "web" / "build" / "client"
    (client_dir / "sub").mkdir(parents=True)
    (client_dir / "404.html").write_text(BUILT_PAGE)
    (client_dir / "sub" / "index.html").write_text(f"<script>{THEME_SCRIPT}</script>")  # the same one, once
    monkeypatch.setenv("REFLEX_WEB_WORKDIR", str(tmp_path / "web"))
    return client_dir


def served_app() -> Starlette:
    async def page(request):
        return HTMLResponse("<html>page</html>")

    async def data(request):
        return JSONResponse({"ok": True})

    app = create_api()
    app.mount("", Starlette(routes=[Route("/portal/{token}", page), Route("/", page), Route("/data.json", data)]))
    return app


@pytest_asyncio.fixture
async def http(built: Path, db_url: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=served_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://billstack.test") as client:
        yield client


async def portal_page(http: httpx.AsyncClient, tenant: Tenant) -> httpx.Response:
    created = await http.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
    assert created.status_code == 200, created.text
    page = await http.get(f"/portal/{created.json()['token']}")
    assert page.status_code == 200 and page.text == "<html>page</html>"
    return page


def public_url(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("BILLSTACK_PUBLIC_URL", url)
    reset_settings()


async def test_the_portal_page_policy_names_exactly_the_projects_sources(
    http: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    public_url(monkeypatch, "http://localhost:8000")
    with session_scope() as db:
        update_project(db, tenant.project_id, logo_url="https://cdn.example.com/brand/logo.png",
                       frame_ancestors="https://app.example.com")
    policy = policy_of(await portal_page(http, tenant))
    assert policy == page_policy(
        hashes=f"{sha(THEME_SCRIPT)} {sha(MODULE_SCRIPT)}",
        images="'self' https://cdn.example.com",
        connect="'self' http://localhost:8000 ws://localhost:8000",
        forms="'self' https://checkout.stripe.com",
        frame_ancestors="https://app.example.com",
    )
    assert "'unsafe-eval'" not in policy and "*" not in policy and "data:" not in policy


async def test_a_project_on_the_emulator_posts_forms_to_its_checkout(
    http: httpx.AsyncClient, tenant: Tenant, db_url: str
) -> None:
    with Session(engine_for(db_url)) as db:
        project = db.get(Project, tenant.project_id)
        project.stripe_api_base = "http://127.0.0.1:12111/"
        db.add(project)
        db.commit()
    policy = policy_of(await portal_page(http, tenant))
    assert "; form-action 'self' http://127.0.0.1:12111; " in policy
    assert "; img-src 'self'; " in policy  # no logo, no logo origin


async def test_the_home_page_and_a_bad_token_get_the_project_less_policy(http: httpx.AsyncClient) -> None:
    for path in ("/", "/portal/garbage"):
        response = await http.get(path)
        policy = policy_of(response)
        assert "; img-src 'self'; " in policy and "; form-action 'self'; " in policy, path
        assert policy.endswith("; frame-ancestors 'none'") and response.headers["x-frame-options"] == "DENY"


async def test_unsafe_stored_values_never_reach_the_header(
    http: httpx.AsyncClient, tenant: Tenant, db_url: str
) -> None:
    """Written by hand (no checks on the way in): each is left out on the way out."""
    with Session(engine_for(db_url)) as db:
        project = db.get(Project, tenant.project_id)
        project.logo_url = "javascript:alert(1)//https://cdn.example.com/x.png"
        project.stripe_api_base = "https://evil.example; script-src *"
        db.add(project)
        db.commit()
    policy = policy_of(await portal_page(http, tenant))
    assert "; img-src 'self'; " in policy and "; form-action 'self'; " in policy
    assert "evil" not in policy and "*" not in policy and "javascript" not in policy

    for logo in ("http://cdn.example.com/logo.png", "https://cdn.example.com/a b.png", "data:image/png;base64,AA=="):
        security.policy_cache.clear()
        with Session(engine_for(db_url)) as db:
            project = db.get(Project, tenant.project_id)
            project.logo_url = logo
            db.add(project)
            db.commit()
        assert "; img-src 'self'; " in policy_of(await portal_page(http, tenant)), logo


async def test_a_changed_logo_reaches_the_policy_within_the_ttl(
    http: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope() as db:
        update_project(db, tenant.project_id, logo_url="https://old.example.com/logo.png")
    assert "img-src 'self' https://old.example.com;" in policy_of(await portal_page(http, tenant))
    with session_scope() as db:
        update_project(db, tenant.project_id, logo_url="https://new.example.com/logo.png")
    assert "img-src 'self' https://old.example.com;" in policy_of(await portal_page(http, tenant))  # cached
    later = security.time.monotonic() + security.POLICY_TTL + 1
    monkeypatch.setattr(security.time, "monotonic", lambda: later)
    assert "img-src 'self' https://new.example.com;" in policy_of(await portal_page(http, tenant))


async def test_json_and_everything_but_pages_get_the_strict_policy(http: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await http.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
    token = created.json()["token"]
    responses = [created, await http.get("/api/openapi.json"), await http.get(f"/api/portal/{token}"),
                 await http.get("/api/nothing"), await http.get("/data.json")]
    for response in responses:
        assert policy_of(response) == API_POLICY, response.url
        assert response.headers["x-frame-options"] == "DENY"


async def test_hsts_only_for_an_https_public_url(
    http: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    public_url(monkeypatch, "http://localhost:8000")
    for response in (await portal_page(http, tenant), await http.get("/api/openapi.json")):
        assert "strict-transport-security" not in response.headers

    public_url(monkeypatch, "https://billing.example.com")
    page = await portal_page(http, tenant)
    assert "; connect-src 'self' https://billing.example.com wss://billing.example.com; " in policy_of(page)
    for response in (page, await http.get("/api/openapi.json"), await http.get("/")):
        assert response.headers.get_list("strict-transport-security") == ["max-age=31536000"]


async def test_inline_script_hashes_are_those_of_the_text_as_written() -> None:
    """The hash is of the script's text exactly as written (whitespace included); a script
    with `src` is not inline."""
    html = "<script>\n  a();\n</script><SCRIPT type='module'>b()</SCRIPT><script src='/x.js'></script><style>s</style>"
    assert csp.inline_script_hashes(html) == [sha("\n  a();\n"), sha("b()")]
    # Computed apart: printf 'alert(1)' | openssl dgst -sha256 -binary | base64
    assert csp.inline_script_hashes("<script>alert(1)</script>") == ["'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"]


async def test_no_build_means_no_inline_script(tenant: Tenant, db_url: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLEX_WEB_WORKDIR", str(tmp_path / "nothing-built"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=served_app()), base_url="http://b.test") as http:
        assert "; script-src 'self'; " in policy_of(await http.get("/"))
