"""Link binding: a portal link works in the first browser that opens it, and only there.

(Project.link_binding = `browser`.) The first load of /portal/<token> gives the browser an
HttpOnly cookie holding a random secret and stores that secret's digest on the session
(PortalSession.bound_secret_hash); from then on `validate_portal_token` accepts the token
only together with that cookie (`check_bound`). Binding itself — the conditional UPDATE on a
page's first load — is first_load.py's (it validates the token first, and validation imports
this module).

One secret per browser, many sessions: a page load that already carries the cookie (a
same-site navigation, e.g. the app on app.example.com sending its customer to the portal on
billing.example.com) binds the new session to that same secret, so portals opened earlier in
that browser keep working. A first load without it — SameSite=Strict cookies do not travel
on cross-site navigations (a link in an email, an app on another site) — gets a fresh secret,
which replaces the browser's cookie: portals opened earlier in that browser through another
cross-site link then show the "already used" page on their next event.

Contract pieces other modules use (issue 18): `COOKIE_NAME` and `secret_from_cookie_header`.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from billstack.client_info import PortalClient
from billstack.models import PortalSession, Project
from billstack.secrets_box import digests_match
from billstack.services.setting_checks import LINK_BINDING_BROWSER
from billstack.services.sessions.request import TTL_MAX_MS
from billstack.services.sessions.tokens import TOKEN_USED, PortalTokenError

COOKIE_NAME = "billstack_link"
# Over https the cookie is `__Host-billstack_link`: the browser then only accepts it Secure,
# for Path=/ and without a Domain, so no sibling subdomain can plant or widen it.
SECURE_COOKIE_NAME = "__Host-" + COOKIE_NAME
# A secret is token_urlsafe(32): 43 characters. Anything far longer is not ours.
_SECRET_MAX = 128
# The cookie outlives the longest session by a day (one cookie serves every session the
# browser opens, so it cannot follow any one session's expiry).
COOKIE_MAX_AGE_S = TTL_MAX_MS // 1000 + 86_400

# What binds: a browser's top-level navigation (fetch metadata, sent by every current browser).
# Scripts, curl and mail gateways' link scanners send none, so they cannot use up a link.
BINDING_FETCH_DEST = "document"

AUDIT_BOUND = "portal_session.bound"
AUDIT_LINK_REUSED = "portal_session.link_reused"


def secret_from_cookie_header(header: str | None) -> str | None:
    """The binding secret in a request's Cookie header (the `__Host-` one first), or None."""
    if not header or COOKIE_NAME not in header:
        return None
    try:
        jar = SimpleCookie(header)
    except CookieError:
        return None
    for name in (SECURE_COOKIE_NAME, COOKIE_NAME):
        morsel = jar.get(name)
        if morsel is not None and morsel.value and len(morsel.value) <= _SECRET_MAX:
            return morsel.value
    return None


def set_cookie_value(secret: str, *, secure: bool) -> str:
    """The Set-Cookie header value that hands `secret` to the browser."""
    name = SECURE_COOKIE_NAME if secure else COOKIE_NAME
    flags = "; Secure" if secure else ""
    return f"{name}={secret}; Max-Age={COOKIE_MAX_AGE_S}; Path=/; HttpOnly; SameSite=Strict{flags}"


def check_bound(session: PortalSession, project: Project, client: PortalClient) -> None:
    """Raises `token_used` when the session is bound to another browser (validation's last step).

    Unbound sessions pass (headless use of the portal API works until a browser opens the link),
    and so does every session of a project whose link_binding is not `browser`.
    """
    if project.link_binding != LINK_BINDING_BROWSER or session.bound_secret_hash is None:
        return
    if client.browser_secret is not None and digests_match(client.browser_secret, session.bound_secret_hash):
        return
    raise PortalTokenError(
        TOKEN_USED, "This portal link was already used in another browser.",
        return_url=session.return_url, project_id=session.project_id, locale=session.locale,
    )
