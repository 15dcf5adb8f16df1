"""The whole app as `billstack serve` runs it, in process: FastPaths in front of Reflex's
ASGI app (its CORS middlewares, Socket.IO at /_event, the compiled frontend mounted),
with our API mounted by Reflex. Only the frontend bundle is a stand-in (three files).

- CORS: only the public URL's origin and BILLSTACK_CORS_ORIGINS get
  Access-Control-Allow-Origin, never `*`; the websocket refuses any other Origin.
- Security headers on every response, Reflex's own included (preflights, static files).
- Every 404 is the JSON error shape, and odd spellings of a portal URL never give a page.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from starlette.types import ASGIApp, Message

from billstack import server
from billstack.config import reset_settings
from tests.api.conftest import Tenant, assert_error
from tests.conftest import TEST_SECRET_KEY

PUBLIC_URL = "http://billstack.test"
SAAS_ORIGIN = "https://app.example.com"
FOREIGN_ORIGIN = "https://evil.example"
HASHED_ASSET = "/assets/app-3f2a1b9c.js"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ASGIApp]:
    web = tmp_path_factory.mktemp("web")
    client_dir = web / "build" / "client"
    (client_dir / "assets").mkdir(parents=True)
    (client_dir / "index.html").write_text("<html>home</html>")
    (client_dir / "404.html").write_text("<html>the SPA shell and its 404 page</html>")
    (client_dir / HASHED_ASSET.lstrip("/")).write_text("export {};")
    with pytest.MonkeyPatch.context() as env:
        env.chdir(server.ROOT)  # Reflex reads rxconfig.py from the working directory
        for name, value in server.reflex_env(PUBLIC_URL).items():
            env.setenv(name, value)
        env.setenv("REFLEX_ENV_MODE", "prod")
        env.setenv("REFLEX_WEB_WORKDIR", str(web))
        env.setenv("REFLEX_MOUNT_FRONTEND_COMPILED_APP", "true")  # so that it is restored afterwards
        env.setenv("BILLSTACK_PUBLIC_URL", PUBLIC_URL)
        env.setenv("BILLSTACK_CORS_ORIGINS", SAAS_ORIGIN)
        env.setenv("BILLSTACK_SECRET_KEY", TEST_SECRET_KEY)
        reset_settings()
        app = server.served_app()
    reset_settings()
    yield app


@pytest_asyncio.fixture
async def http(served: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=served, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        yield client


async def portal_token(http: httpx.AsyncClient, tenant: Tenant) -> str:
    response = await http.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
    assert response.status_code == 200, response.text
    return response.json()["token"]


def assert_security_headers(response: httpx.Response, cache_control: str = "no-store") -> None:
    headers = response.headers
    assert headers.get_list("referrer-policy") == ["no-referrer"], response.url
    assert headers.get_list("x-content-type-options") == ["nosniff"], response.url
    assert headers.get_list("cache-control") == [cache_control], response.url
    policies = headers.get_list("content-security-policy")
    if headers.get("content-type", "").startswith("text/html"):  # a page: the full policy (tests/api/test_csp.py)
        assert len(policies) == 1 and policies[0].startswith("default-src 'self'; script-src 'self'"), response.url
        assert policies[0].endswith("; frame-ancestors 'none'"), response.url
    else:
        assert policies == ["default-src 'none'; frame-ancestors 'none'"], response.url
    assert headers.get_list("x-frame-options") == ["DENY"], response.url


# --- CORS ----------------------------------------------------------------------------------


def cors_requests(tenant: Tenant, token: str) -> dict[str, tuple[str, str, dict[str, str]]]:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    return {
        "portal API": ("GET", f"/api/portal/{token}/invoices", {}),
        "portal page": ("GET", f"/portal/{token}", {}),
        "OpenAPI document": ("GET", "/api/openapi.json", {}),
        "session API preflight": ("OPTIONS", tenant.portal_path, preflight),
        "portal API preflight": ("OPTIONS", f"/api/portal/{token}/invoices",
                                 {"Access-Control-Request-Method": "GET"}),
    }


@pytest.mark.asyncio
async def test_an_unlisted_origin_gets_no_cors_grant(http: httpx.AsyncClient, tenant: Tenant) -> None:
    token = await portal_token(http, tenant)
    for what, (method, path, headers) in cors_requests(tenant, token).items():
        response = await http.request(method, path, headers={"Origin": FOREIGN_ORIGIN, **headers})
        assert "access-control-allow-origin" not in response.headers, what
        assert_security_headers(response)  # a preflight too, which Reflex's CORS middleware answers
        if method == "OPTIONS":
            assert response.status_code == 400, what  # "Disallowed CORS origin"


@pytest.mark.asyncio
@pytest.mark.parametrize("origin", [PUBLIC_URL, SAAS_ORIGIN])
async def test_listed_origins_are_granted_by_name(http: httpx.AsyncClient, tenant: Tenant, origin: str) -> None:
    token = await portal_token(http, tenant)
    for what, (method, path, headers) in cors_requests(tenant, token).items():
        response = await http.request(method, path, headers={"Origin": origin, **headers})
        assert response.status_code < 400, (what, response.text)
        assert set(response.headers.get_list("access-control-allow-origin")) == {origin}, what
        assert "Origin" in response.headers["vary"], what


async def event_socket_opens(served: ASGIApp, origin: str) -> bool:
    """Whether the page's websocket (/_event) opens for `origin`: the server's first message
    is the accept and Engine.IO's "open" packet, or a refusal."""
    incoming: asyncio.Queue[Message] = asyncio.Queue()
    incoming.put_nowait({"type": "websocket.connect"})
    answers: asyncio.Queue[Message] = asyncio.Queue()
    scope = {"type": "websocket", "asgi": {"version": "3.0"}, "path": "/_event/", "raw_path": b"/_event/",
             "root_path": "", "scheme": "ws", "query_string": b"EIO=4&transport=websocket",
             "headers": [(b"host", b"billstack.test"), (b"upgrade", b"websocket"), (b"connection", b"Upgrade"),
                         (b"origin", origin.encode())], "subprotocols": [],
             "server": ("billstack.test", 80), "client": ("203.0.113.7", 40000)}
    connection = asyncio.create_task(served(scope, incoming.get, answers.put))
    try:
        async with asyncio.timeout(10):
            first = await answers.get()
            if first["type"] != "websocket.accept":
                return False
            opened = await answers.get()
            return opened["type"] == "websocket.send" and opened["text"].startswith("0{")
    finally:
        incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})
        async with asyncio.timeout(10):
            await connection


@pytest.mark.asyncio
async def test_the_websocket_refuses_a_foreign_origin(served: ASGIApp) -> None:
    assert not await event_socket_opens(served, FOREIGN_ORIGIN)
    assert await event_socket_opens(served, PUBLIC_URL)
    assert await event_socket_opens(served, SAAS_ORIGIN)


# --- headers and the error shape everywhere ------------------------------------------------


@pytest.mark.asyncio
async def test_every_response_has_the_security_headers(http: httpx.AsyncClient) -> None:
    for path in ("/", "/ping", "/index.html", "/api/openapi.json"):
        response = await http.get(path)
        assert response.status_code == 200, path
        assert_security_headers(response)
    asset = await http.get(HASHED_ASSET)
    assert asset.status_code == 200 and asset.text == "export {};"
    assert_security_headers(asset, cache_control="public, max-age=31536000, immutable")


@pytest.mark.asyncio
async def test_unknown_paths_are_json_404s_with_the_headers(http: httpx.AsyncClient, tenant: Tenant) -> None:
    token = await portal_token(http, tenant)
    for path in ("/nope", "/portal", f"/Portal/{token}", "/assets/missing.js", "/favicon.ico", "/api/nope",
                 f"//portal/{token}", f"/api//portal/{token}/subscriptions", f"/portal/%2e%2e/portal/{token}"):
        response = await http.get(httpx.URL(PUBLIC_URL + path))
        assert_error(response, 404, "not_found")
        assert_security_headers(response)


@pytest.mark.asyncio
async def test_dot_segments_sent_as_they_are_are_json_404s(served: ASGIApp, tenant: Tenant,
                                                           http: httpx.AsyncClient) -> None:
    """httpx (as browsers) resolves `.` and `..` before sending; a raw client need not."""
    token = await portal_token(http, tenant)
    for path in (f"/x/../portal/{token}", f"/portal/./{token}", f"/portal/{token}/.."):
        response = await get_as_sent(served, path)
        assert_error(response, 404, "not_found")
        assert_security_headers(response)


async def get_as_sent(served: ASGIApp, path: str) -> httpx.Response:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(b"host", b"billstack.test")], "server": ("billstack.test", 80),
             "client": ("203.0.113.7", 40000)}
    messages: list[Message] = []
    requested, answered = False, asyncio.Event()

    async def receive() -> Message:  # as httpx's transport: the request, then (once answered) a disconnect
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        messages.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            answered.set()

    await served(scope, receive, send)
    start, *body = messages
    return httpx.Response(start["status"], headers=start["headers"], content=b"".join(m.get("body", b"") for m in body),
                          request=httpx.Request("GET", PUBLIC_URL))


@pytest.mark.asyncio
async def test_a_percent_encoded_portal_url_is_the_portal_page_with_its_headers(
    http: httpx.AsyncClient, tenant: Tenant
) -> None:
    token = await portal_token(http, tenant)
    assert token.startswith("e")
    response = await http.get(httpx.URL(f"{PUBLIC_URL}/portal/%65{token[1:]}"))
    assert response.status_code == 200 and "SPA shell" in response.text
    assert_security_headers(response)
