"""Link binding: a portal link works in the first browser that opens it, and only there.

(Project.link_binding = `browser`.) The first load of /portal/<token> gives the browser an
HttpOnly cookie holding a random secret and stores that secret's digest on the session
(PortalSession.bound_secret_hash); from then on `validate_portal_token` accepts the token
only together with that cookie.

Contract pieces other modules use (issue 18): `COOKIE_NAME` and `secret_from_cookie_header`.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from billstack.services.setting_checks import LINK_BINDING_BROWSER  # noqa: F401 - used by the binding code

COOKIE_NAME = "billstack_link"
# A secret is token_urlsafe(32): 43 characters. Anything far longer is not ours.
_SECRET_MAX = 128


def secret_from_cookie_header(header: str | None) -> str | None:
    """The binding secret in a request's Cookie header, or None."""
    if not header or COOKIE_NAME not in header:
        return None
    try:
        jar = SimpleCookie(header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE_NAME)
    if morsel is None or not morsel.value or len(morsel.value) > _SECRET_MAX:
        return None
    return morsel.value
