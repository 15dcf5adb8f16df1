"""Pure ASGI middleware: the first load of /portal/<token> binds the link to that browser.

A `GET /portal/<token>` whose token validates, of a project with link_binding `browser`,
whose session is not bound yet, binds it (services/sessions/binding.py: one conditional
UPDATE, so of two racing browsers exactly one wins) and gets the cookie on its response:

    Set-Cookie: billstack_link=<secret>; Max-Age=…; Path=/; HttpOnly; SameSite=Strict
    (over https: __Host-billstack_link=…; …; Secure)

Nothing is ever refused here: the page's HTML holds no customer data, and the rightful
browser's second click on an emailed link is a cross-site navigation, which carries no
SameSite=Strict cookie — its websocket does. So the decision is validation's
(`token_used`), on every event and API call.

What binds: a browser's top-level navigation, `Sec-Fetch-Dest: document` (fetch metadata,
sent by every current browser), not a prefetch (`Sec-Purpose`/`Purpose: prefetch`). Frames
(whose cross-site websocket would not carry the cookie either) and clients that send no
fetch metadata — scripts, curl, the link scanners of mail gateways that fetch a link before
the customer clicks it — pass without binding, so they cannot use up a link.
The database work runs off the event loop; if it fails (a busy database), the page is
served unbound and its next load binds it.
"""

from __future__ import annotations

import logging

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_routes.asgi_headers import header, portal_page_token
from billstack.client_info import PortalClient
from billstack.services.sessions import binding, first_load

log = logging.getLogger("billstack.sessions")
# Set in the scope by the instance that looked at the request; an inner one then passes it on
# (`billstack serve` runs one in front of everything, create_api() has its own for other hosts).
SEEN = "billstack.link_binding"


class LinkBinding:
    def __init__(self, app: ASGIApp, *, public_url_is_https: bool = False) -> None:
        self.app = app
        self.public_url_is_https = public_url_is_https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = portal_page_token(scope) if scope.get("method") == "GET" else None  # a HEAD never binds
        if token is not None:
            if scope.get(SEEN):
                token = None
            scope[SEEN] = True
        if token is None or not first_load.may_bind(token):
            await self.app(scope, receive, send)
            return
        if header(scope, b"sec-fetch-dest") != binding.BINDING_FETCH_DEST or _is_prefetch(scope):
            await self.app(scope, receive, send)
            return
        client = PortalClient.of(
            (scope.get("client") or (None,))[0],
            header(scope, b"user-agent"),
            binding.secret_from_cookie_header(header(scope, b"cookie")),
        )
        try:
            secret = await anyio.to_thread.run_sync(first_load.bind_on_first_load, token, client)
        except Exception:  # noqa: BLE001 - the page is served whatever: its next load binds the link
            log.warning("link binding failed; the page is served unbound", exc_info=True)
            secret = None
        if secret is None:
            await self.app(scope, receive, send)
            return
        secure = self.public_url_is_https or scope.get("scheme") == "https"
        cookie = binding.set_cookie_value(secret, secure=secure).encode("latin-1")

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _is_prefetch(scope: Scope) -> bool:
    return any("prefetch" in (header(scope, name) or "").lower() for name in (b"sec-purpose", b"purpose"))
