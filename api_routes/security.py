"""Pure ASGI middleware: security headers on every HTTP response.

Every one: pages, APIs, static files, 404s, CORS preflights, odd paths. `billstack serve`
runs it outermost (api_routes/fast_paths.py), so even what Reflex's own layers answer
(its CORS preflights, its static frontend) gets them; `create_api()` has it too, for the
API on its own (`reflex run`, tests), and an instance that finds the scope marked by an
outer one passes the request through.

    Referrer-Policy: no-referrer          the token is in the URL; never leak it
    Cache-Control: no-store               nor keep it (or the customer's data) in caches;
                                          but Vite's content-hashed build files under
                                          /assets/ (no data, a new name for every change)
                                          are cached for a year, `immutable`
    X-Content-Type-Options: nosniff
    Content-Security-Policy               pages (text/html): api_routes/csp.py's full policy,
                                          with the project's frame-ancestors, logo origin and
                                          Checkout origin; anything else: default-src 'none';
                                          frame-ancestors 'none'
    X-Frame-Options: DENY                 when frame-ancestors is 'none' (older browsers)
    Strict-Transport-Security: max-age=31536000   when the public URL is https (csp.py says why
                                          no includeSubDomains)

For a page at `/portal/<token>` the project is read from the token's signed claims (no
database work unless the project's sources are not cached yet); an invalid token, and every
other page, gets the project-less policy (no logo, no Checkout, frame-ancestors 'none').
Sources are cached per project for POLICY_TTL seconds, so a changed `frame_ancestors`, logo
or Stripe API base applies within that time.

Pure ASGI rather than BaseHTTPMiddleware, so websockets (Reflex's event channel) and
streaming responses pass through untouched.
"""

from __future__ import annotations

import re
import threading
import time

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_routes import csp
from billstack import routes
from billstack.db import session_scope
from billstack.services import page_policy, sessions
from billstack.services.page_policy import PageSources

POLICY_TTL = 30.0
NONE = csp.NONE
# What may reach the header from a project's setting (checked again on the way out, with
# fullmatch: tenants checks it on the way in, but a value stored before that check, or by
# hand, must not be able to add a directive (`;`) or a header line).
_FRAME_ANCESTORS_SAFE = re.compile(r"[A-Za-z0-9 :/.*'\-_\[\]]+")
_REPLACED = frozenset({b"referrer-policy", b"cache-control", b"x-content-type-options", b"x-frame-options",
                       b"content-security-policy", b"strict-transport-security"})
NO_STORE = b"no-store"
HASHED_ASSETS_PREFIX = "/assets/"
CACHED_FOR_GOOD = b"public, max-age=31536000, immutable"
# Set in the scope by the instance that adds the headers; an inner one then passes through.
APPLIED = "billstack.security_headers"


class PolicyCache:
    """A project's page sources (services/page_policy.py; None: an unknown project) for `ttl` seconds."""

    def __init__(self, ttl: float = POLICY_TTL, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[PageSources | None, float]] = {}

    def get(self, project_id: str) -> tuple[PageSources | None] | None:
        """(sources,) when cached and fresh, else None."""
        entry = self._entries.get(project_id)
        if entry is None or entry[1] < time.monotonic():
            return None
        return (entry[0],)

    def put(self, project_id: str, sources: PageSources | None) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[project_id] = (sources, time.monotonic() + self.ttl)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


policy_cache = PolicyCache()


def frame_ancestors_policy(setting: str | None) -> str:
    """The CSP `frame-ancestors` sources for a project's setting; `'none'` when unset or unsafe."""
    value = (setting or "").strip()
    if not value or not _FRAME_ANCESTORS_SAFE.fullmatch(value):
        return NONE
    return value


def _load_sources(project_id: str) -> PageSources | None:
    with session_scope() as db:
        return page_policy.page_sources(db, project_id)


async def page_sources_for_path(path: str) -> PageSources | None:
    """The sources of the project a `/portal/<token>` path's token names (None otherwise)."""
    if not path.startswith(routes.PORTAL_PREFIX):
        return None
    token = path[len(routes.PORTAL_PREFIX):].split("/", 1)[0]
    project_id = sessions.project_id_from_token(token) if token else None
    if project_id is None:
        return None
    cached = policy_cache.get(project_id)
    if cached is not None:
        return cached[0]
    sources = await anyio.to_thread.run_sync(_load_sources, project_id)
    policy_cache.put(project_id, sources)
    return sources


async def content_security_policy(path: str, is_page: bool) -> tuple[str, str]:
    """(the header, its frame-ancestors) for a response to `path`: a page's, or the strict one."""
    if not is_page:
        return csp.API_POLICY, NONE
    try:
        sources = await page_sources_for_path(path)
        frame_ancestors = frame_ancestors_policy(sources.frame_ancestors if sources else None)
        return csp.page_policy(sources, frame_ancestors), frame_ancestors
    except Exception:  # noqa: BLE001 - a header lookup must never break a response: the strictest policy
        return csp.API_POLICY, NONE


def security_headers(policy: str, frame_ancestors: str = NONE, cache_control: bytes = NO_STORE
                     ) -> list[tuple[bytes, bytes]]:
    """The headers above for a CSP `policy` (a fresh list: callers may extend it)."""
    headers = [*_COMMON_HEADERS, (b"cache-control", cache_control),
               (b"content-security-policy", policy.encode("latin-1"))]
    if frame_ancestors == NONE:
        headers.append((b"x-frame-options", b"DENY"))
    hsts = csp.strict_transport_security()
    if hsts is not None:
        headers.append((b"strict-transport-security", hsts))
    return headers


_COMMON_HEADERS = (
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
)


def cache_control_for(path: str, status: int) -> bytes:
    if path.startswith(HASHED_ASSETS_PREFIX) and status in (200, 304):
        return CACHED_FOR_GOOD
    return NO_STORE


def is_html(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(k.lower() == b"content-type" and v.lower().startswith(b"text/html") for k, v in headers)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get(APPLIED):
            await self.app(scope, receive, send)
            return
        scope[APPLIED] = True

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _REPLACED]
                policy, frame_ancestors = await content_security_policy(scope["path"], is_html(headers))
                cache_control = cache_control_for(scope["path"], message["status"])
                message = {**message, "headers": headers + security_headers(policy, frame_ancestors, cache_control)}
            await send(message)

        await self.app(scope, receive, send_with_headers)
