"""`GET /portal/<token>` answered from memory: the portal's page shell, without the framework.

The portal page is the build's single-page-app shell (Reflex copies `__spa-fallback.html` to
`404.html` and its static files answer every routable path with it). Through Reflex's
Starlette app that one static file cost a sixth of a portal load's CPU: two CORS layers,
routing, stat calls for the missing `/portal/<token>` file and its index, then the
fallback's own. The shell holds no customer data and is the same for every token, so each
process reads it (and its gzip twin) once and answers here, inside the same LinkBinding
(the first load binds the link) and SecurityHeaders (CSP, no-store) as before.

Its `<html lang>` is the browser's language among the portal's (Accept-Language, as an
`auto` session without the customer's preference would resolve it; English otherwise): read
from the request alone, so no session or customer data goes into the shell. The page sets the
session's resolved language as soon as its state arrives (components/elements.DocumentLang).

Anything else — another path, a method other than GET/HEAD, a server with no build —
passes on to the framework unchanged.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, replace
from email.utils import formatdate
from functools import lru_cache
from hashlib import md5
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from api_routes.asgi_headers import header, portal_page_token
from api_routes.csp import served_client_dir
from billstack.services.sessions.locales import page_locale

# The file Reflex's static files answer a routable page path with (reflex/utils/build.py).
SHELL_FILE = "404.html"


@dataclass(frozen=True)
class ShellFile:
    """One encoding of the shell: its bytes and the headers Starlette's FileResponse sends."""

    body: bytes
    headers: tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True)
class Shell:
    plain: ShellFile
    gzip: ShellFile | None


def _file(path: Path, encoding: str | None) -> ShellFile:
    body, stat = path.read_bytes(), path.stat()
    etag = md5(f"{stat.st_mtime}-{stat.st_size}".encode(), usedforsecurity=False).hexdigest()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"last-modified", formatdate(stat.st_mtime, usegmt=True).encode()),
        (b"etag", f'"{etag}"'.encode()),
        (b"vary", b"Accept-Encoding, Accept-Language"),
    ]
    if encoding:
        headers.append((b"content-encoding", encoding.encode()))
    return ShellFile(body, tuple(headers))


@lru_cache(maxsize=4)
def load_shell(client_dir: Path) -> Shell | None:
    """The shell of the build in `client_dir`, read once (None without a build)."""
    plain = client_dir / SHELL_FILE
    if not plain.is_file():
        return None
    packed = plain.with_name(SHELL_FILE + ".gz")
    return Shell(_file(plain, None), _file(packed, "gzip") if packed.is_file() else None)


_HTML_LANG = re.compile(rb'<html(?: lang="[^"]*")?')


@lru_cache(maxsize=64)
def shell_in(client_dir: Path, lang: str) -> Shell | None:
    """The build's shell with `<html lang="{lang}">` (each language's bytes made once)."""
    shell = load_shell(client_dir)
    if shell is None:
        return None
    return Shell(_with_lang(shell.plain, lang, None), _with_lang(shell.gzip, lang, "gzip") if shell.gzip else None)


def _with_lang(original: ShellFile, lang: str, encoding: str | None) -> ShellFile:
    body = gzip.decompress(original.body) if encoding else original.body
    body = _HTML_LANG.sub(f'<html lang="{lang}"'.encode(), body, count=1)
    if encoding:
        body = gzip.compress(body, mtime=0)
    headers = []
    for name, value in original.headers:
        if name == b"content-length":
            value = str(len(body)).encode()
        elif name == b"etag":
            value = value[:-1] + f'-{lang}"'.encode()
        headers.append((name, value))
    return replace(original, body=body, headers=tuple(headers))


def is_portal_page(scope: Scope) -> bool:
    """A GET/HEAD of `/portal/<token>` on a server at the root (Reflex's own paths otherwise)."""
    return portal_page_token(scope) is not None and not scope.get("root_path")


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether `Accept-Encoding` admits gzip (`gzip;q=0` refuses it)."""
    for entry in (accept_encoding or "").lower().split(","):
        token, _, params = entry.partition(";")
        if token.strip() in ("gzip", "*"):
            quality = params.strip().removeprefix("q=")
            try:
                return not params.strip() or float(quality) > 0
            except ValueError:
                return False
    return False


class PortalShell:
    """Answers the portal page's path from memory; everything else goes to `app`."""

    def __init__(self, app: ASGIApp, client_dir: Path | None = None) -> None:
        self.app = app
        self.client_dir = client_dir

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A request with an Origin is a script's fetch, not a navigation (browsers send none
        # for those): the framework answers it, with its CORS checks and headers.
        served_here = is_portal_page(scope) and header(scope, b"origin") is None
        shell = shell_in(self.client_dir or served_client_dir(), self._lang(scope)) if served_here else None
        if shell is None:
            await self.app(scope, receive, send)
            return
        chosen = shell.gzip if shell.gzip is not None and accepts_gzip(header(scope, b"accept-encoding")) else shell.plain
        await send({"type": "http.response.start", "status": 200, "headers": list(chosen.headers)})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else chosen.body})

    @staticmethod
    def _lang(scope: Scope) -> str:
        """The browser's language among the portal's (no session or customer data)."""
        return page_locale(None, None, header(scope, b"accept-language"))
