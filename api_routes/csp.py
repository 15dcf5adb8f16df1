"""The Content-Security-Policy of BillStack's pages, and the strict one of everything else.

Pages (`text/html`: the portal at /portal/<token>, the home page, the SPA's 404 shell):

    default-src 'self'
    script-src 'self' 'sha256-…'…     the bundle, plus the inline scripts of the built HTML
    style-src 'self' 'unsafe-inline'  (why: below)
    style-src-attr 'none'             no `style="…"` attribute in markup
    img-src 'self' <logo origin>      the project's logo (https only; setting_checks.safe_logo_url)
    font-src 'self'
    connect-src 'self' <public origin> <ws(s) public origin>   the API and Reflex's websocket
    object-src 'none'
    base-uri 'none'
    form-action 'self' <Checkout origin>   Stripe's (or the emulator's: stripe_gateway.checkout_origin)
    frame-ancestors <project setting, default 'none'>

No 'unsafe-eval' and no wildcard: Reflex's state.js evals only a server-sent `rx.call_script`,
which the app does not use (state/client_commands.py instead). No `data:` anywhere: neither
the bundle's CSS nor the page loads a data: image or font (tests/e2e/test_csp.py counts
violations on every page and dialog).

Scripts: Reflex's prod build (React Router, prerendered) puts a few inline scripts in each
HTML file (the theme switch, scroll restoration, the router's context and module loader,
React's streaming helpers). They are the same for every response of one build, so their
sha256 hashes are read once per process from the HTML files the server serves
(<REFLEX_WEB_WORKDIR>/build/client/**/*.html) rather than from each response body: the
server serves those files as they are (or their .gz twins), the bundle never changes under
a running server (it is built before the workers start, and workers never compile), and
reading bodies would mean buffering (and decompressing) every page.

Styles: 'unsafe-inline' stays in style-src (for `<style>` elements) because the page
creates them at run time with text no hash can name in advance: Radix's dialogs lock the
page's scroll through react-remove-scroll-bar, which writes a `<style>` holding the
measured scrollbar width in px, and reads its nonce from `__webpack_nonce__`, which a static,
prerendered page cannot set per response; Sonner (the toasts) and Emotion's server-rendered
`<style data-emotion>` blocks add more. A hash or nonce in style-src would also switch
'unsafe-inline' off. Attributes are another matter: React sets `style` through the CSSOM,
which CSP does not govern, so `style-src-attr 'none'` costs nothing and refuses any
injected `style="…"`.

Everything else (JSON, files, redirects): `default-src 'none'; frame-ancestors 'none'`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from billstack.config import get_settings, origin_of
from billstack.server import web_dir  # the build folder the served frontend comes from
from billstack.services.page_policy import PageSources

NONE = "'none'"
SELF = "'self'"
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
# An origin that may go into the header: scheme://host[:port], nothing that could end a
# source (space) or a directive (`;`, `,`). Anything else is left out.
_ORIGIN = re.compile(r"(https?|wss?)://[A-Za-z0-9.\-]+(:\d{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
_INLINE = re.compile(r"<(script|style)\b([^>]*)>(.*?)</\1\s*>", re.DOTALL | re.IGNORECASE)
_HAS_SRC = re.compile(r"\ssrc\s*=", re.IGNORECASE)


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def inline_script_hashes(html: str) -> list[str]:
    """The CSP hashes of `html`'s inline scripts (not those with `src`), in page order."""
    return [_sha256(body) for tag, attrs, body in _INLINE.findall(html)
            if tag.lower() == "script" and not _HAS_SRC.search(attrs)]


@lru_cache(maxsize=8)
def build_script_hashes(client_dir: Path) -> tuple[str, ...]:
    """Every inline script's hash across the built HTML files in `client_dir` (none when
    there is no build: then only the bundle's own files run)."""
    hashes: dict[str, None] = {}
    if client_dir.is_dir():
        for page in sorted(client_dir.rglob("*.html")):
            for digest in inline_script_hashes(page.read_text(encoding="utf-8", errors="replace")):
                hashes[digest] = None
    return tuple(hashes)


def served_client_dir() -> Path:
    return web_dir() / "build" / "client"


def _origin(value: str | None) -> str | None:
    return value if value and _ORIGIN.fullmatch(value) else None


def websocket_origin(public_url: str) -> str:
    origin = origin_of(public_url)
    return ("wss" if urlsplit(origin).scheme == "https" else "ws") + origin[origin.index(":"):]


def page_policy(sources: PageSources | None, frame_ancestors: str = NONE) -> str:
    """The header for a page of the project whose `sources` these are (None: project-less);
    `frame_ancestors` already checked (api_routes/security.py)."""
    public_url = get_settings().resolved_public_url
    return _page_policy(
        build_script_hashes(served_client_dir()),
        _sources(SELF, origin_of(public_url), websocket_origin(public_url)),
        _sources(SELF, sources.logo_origin if sources else None),
        _sources(SELF, sources.checkout_origin if sources else None),
        frame_ancestors,
    )


def _sources(*values: str | None) -> tuple[str, ...]:
    """'self', and origins that pass _ORIGIN; no repeats."""
    kept = (v for v in values if v == SELF or _origin(v))
    return tuple(dict.fromkeys(kept))


@lru_cache(maxsize=1024)
def _page_policy(hashes: tuple[str, ...], connect: tuple[str, ...], images: tuple[str, ...],
                 forms: tuple[str, ...], frame_ancestors: str) -> str:
    directives = (
        ("default-src", (SELF,)),
        ("script-src", (SELF, *hashes)),
        ("style-src", (SELF, "'unsafe-inline'")),
        ("style-src-attr", (NONE,)),
        ("img-src", images),
        ("font-src", (SELF,)),
        ("connect-src", connect),
        ("object-src", (NONE,)),
        ("base-uri", (NONE,)),
        ("form-action", forms),
        ("frame-ancestors", (frame_ancestors,)),
    )
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives)


def strict_transport_security() -> bytes | None:
    """`max-age=31536000` (a year) when customers reach BillStack over https, else None.
    No includeSubDomains: the header would bind every subdomain of the host BillStack runs
    on to https, which is the operator's call (their proxy can add it), not the app's."""
    if get_settings().public_url_is_https:
        return b"max-age=31536000"
    return None
