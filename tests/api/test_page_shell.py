"""The portal page's shell is answered from memory (api_routes/page_shell.py), as Reflex's
static files would answer it, inside the same link-binding and security layers."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import pytest

from api_routes.page_shell import PortalShell, accepts_gzip, is_portal_page, load_shell, shell_in
from api_routes.security import SecurityHeaders

SHELL = b"<!doctype html><html lang=\"en\"><body><div id=root></div></body></html>"


async def framework(scope, receive, send) -> None:
    """Stands for Reflex's app: says who answered."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"framework"})


@pytest.fixture
def client_dir(tmp_path: Path) -> Path:
    (tmp_path / "404.html").write_bytes(SHELL)
    (tmp_path / "404.html.gz").write_bytes(gzip.compress(SHELL))
    load_shell.cache_clear()
    shell_in.cache_clear()
    return tmp_path


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://billstack.test")


@pytest.mark.asyncio
async def test_the_portal_page_is_the_shell_gzipped_when_accepted(client_dir: Path) -> None:
    async with client(PortalShell(framework, client_dir)) as http:
        packed = await http.get("/portal/tok.en.sig", headers={"accept-encoding": "gzip"})
        plain = await http.get("/portal/tok.en.sig", headers={"accept-encoding": "identity"})
        head = await http.head("/portal/tok.en.sig")
    assert packed.status_code == 200 and packed.headers["content-encoding"] == "gzip"
    assert packed.content == SHELL  # httpx decodes it
    assert plain.status_code == 200 and "content-encoding" not in plain.headers and plain.content == SHELL
    assert plain.headers["content-type"] == "text/html; charset=utf-8"
    assert plain.headers["content-length"] == str(len(SHELL)) and plain.headers["etag"].startswith('"')
    assert head.status_code == 200 and head.content == b""


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/portal/"), ("GET", "/portal/a/b"), ("POST", "/portal/tok"), ("GET", "/api/portal/tok")],
)
@pytest.mark.asyncio
async def test_everything_else_goes_to_the_framework(client_dir: Path, method: str, path: str) -> None:
    async with client(PortalShell(framework, client_dir)) as http:
        response = await http.request(method, path)
    assert response.content == b"framework"


@pytest.mark.asyncio
async def test_without_a_build_the_framework_answers(tmp_path: Path) -> None:
    load_shell.cache_clear()
    shell_in.cache_clear()
    async with client(PortalShell(framework, tmp_path)) as http:
        response = await http.get("/portal/tok")
    assert response.content == b"framework"


@pytest.mark.asyncio
async def test_the_shell_wears_the_page_security_headers(client_dir: Path) -> None:
    async with client(SecurityHeaders(PortalShell(framework, client_dir))) as http:
        response = await http.get("/portal/tok")
    assert response.content == SHELL
    assert response.headers["cache-control"] == "no-store"
    assert "script-src" in response.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("accept_language", "lang"),
    [(None, "en"), ("ja,en;q=0.5", "ja"), ("pt-br", "pt-BR"), ("ar, fi-FI;q=0.3", "fi"), ("ar", "en")],
)
@pytest.mark.asyncio
async def test_the_shells_lang_is_the_browsers_language_among_the_portals(
    client_dir: Path, accept_language: str | None, lang: str
) -> None:
    """From the request alone (issue 20): the session's own language follows with the state."""
    headers = {"accept-language": accept_language} if accept_language else {}
    async with client(PortalShell(framework, client_dir)) as http:
        packed = await http.get("/portal/tok.en.sig", headers={**headers, "accept-encoding": "gzip"})
        plain = await http.get("/portal/tok.en.sig", headers={**headers, "accept-encoding": "identity"})
    expected = SHELL.replace(b'lang="en"', f'lang="{lang}"'.encode())
    assert packed.content == plain.content == expected  # httpx decodes the gzip
    assert plain.headers["content-length"] == str(len(expected))
    assert "Accept-Language" in plain.headers["vary"] and "Accept-Language" in packed.headers["vary"]
    if lang != "en":
        english = load_shell(client_dir).plain.headers
        assert plain.headers["etag"] != dict(english)[b"etag"].decode()


@pytest.mark.parametrize(
    ("header", "gzip_ok"),
    [("gzip, br", True), ("br;q=1.0, gzip;q=0.5", True), ("gzip;q=0", False), ("identity", False), (None, False),
     ("*", True), ("gzip;q=x", False)],
)
def test_accept_encoding(header: str | None, gzip_ok: bool) -> None:
    assert accepts_gzip(header) is gzip_ok


def test_only_the_portal_route_is_the_shell() -> None:
    scope = {"type": "http", "method": "GET", "path": "/portal/abc"}
    assert is_portal_page(scope)
    assert not is_portal_page({**scope, "root_path": "/x"})
    assert not is_portal_page({**scope, "type": "websocket"})
