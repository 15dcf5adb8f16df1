"""Link binding: a portal link works in the first browser that opens it, and only there.

(Project.link_binding = `browser`.) The first load of /portal/<token> gives the browser an
HttpOnly cookie holding a random secret and stores that secret's digest on the session
(PortalSession.bound_secret_hash); from then on `validate_portal_token` accepts the token
only together with that cookie (`check_bound`). api_routes/link_binding.py calls `bind_on_first_load`.

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

import logging
import secrets
from datetime import datetime
from http.cookies import CookieError, SimpleCookie

from sqlmodel import update

from billstack.client_info import NO_CLIENT, PortalClient
from billstack.clock import utcnow
from billstack.db import session_scope
from billstack.models import PortalSession, Project
from billstack.secrets_box import digest, digests_match
from billstack.services import audit
from billstack.services.setting_checks import LINK_BINDING_BROWSER
from billstack.services.sessions.request import TTL_MAX_MS
from billstack.services.sessions.tokens import TOKEN_USED, PortalTokenError, decode_token

log = logging.getLogger("billstack.sessions")

COOKIE_NAME = "billstack_link"
# Over https the cookie is `__Host-billstack_link`: the browser then only accepts it Secure,
# for Path=/ and without a Domain, so no sibling subdomain can plant or widen it.
SECURE_COOKIE_NAME = "__Host-" + COOKIE_NAME
# A secret is token_urlsafe(32): 43 characters. Anything far longer is not ours.
_SECRET_MAX = 128
# The cookie outlives the longest session by a day (one cookie serves every session the
# browser opens, so it cannot follow any one session's expiry).
COOKIE_MAX_AGE_S = TTL_MAX_MS // 1000 + 86_400

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


def new_secret() -> str:
    return secrets.token_urlsafe(32)


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


def may_bind(token: str) -> bool:
    """Cheap first check (no database): only a token with our signature can ever bind."""
    return decode_token(token) is not None


def bind_on_first_load(token: str, client: PortalClient = NO_CLIENT, *, now: datetime | None = None) -> str | None:
    """The secret to set as the browser's cookie when this page load binds the token's session;
    None when it does not (invalid, expired or revoked token; a project with link_binding
    `none`; a session already bound — never re-bound, never a new cookie).

    The secret is the one the browser already holds (`client.browser_secret`), else a new one.
    Two loads racing for a fresh session: one conditional UPDATE each, exactly one matches.
    """
    from billstack.services.sessions.validation import validate_portal_token  # validation imports this module

    if not may_bind(token):
        return None
    with session_scope() as db:  # read only: validation counts no failure (no client address)
        try:
            ctx = validate_portal_token(db, token, now=now)
        except PortalTokenError:
            return None  # bad, expired, revoked — or bound already (token_used)
        if ctx.project.link_binding != LINK_BINDING_BROWSER or ctx.session.bound_secret_hash is not None:
            return None
        session_id, project_id, customer_id = ctx.session.id, ctx.project.id, ctx.customer.id
    # A separate unit of work that starts with the write: on SQLite a transaction that read first
    # could not upgrade to a writer once another binding committed (SQLITE_BUSY_SNAPSHOT).
    secret = client.browser_secret or new_secret()
    now = now or utcnow()
    with session_scope() as db:
        result = db.exec(
            update(PortalSession)
            .where(PortalSession.id == session_id, PortalSession.bound_secret_hash.is_(None))
            .values(bound_secret_hash=digest(secret), bound_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            return None  # another browser won the race
        audit.record(
            db, AUDIT_BOUND, project_id=project_id, customer_id=customer_id, session_id=session_id,
            client_ip=client.ip, user_agent=client.user_agent, outcome=audit.OUTCOME_OK,
            detail={"cookie": "reused" if client.browser_secret else "new"}, now=now,
        )
    log.info("portal session %s bound to a browser", session_id)
    return secret


def record_refused_use(token: str, client: PortalClient) -> None:
    """Audits one refused load of a link bound to another browser (outcome denied).

    Called once per refused page load (not per event); a token that does not name a bound
    session of ours is ignored.
    """
    claims = decode_token(token)
    if claims is None:
        return
    with session_scope() as db:
        session = db.get(PortalSession, claims["sid"])
        if session is None or session.bound_secret_hash is None or not digests_match(token, session.token_hash):
            return
        audit.record(
            db, AUDIT_LINK_REUSED, project_id=session.project_id, customer_id=session.customer_id,
            session_id=session.id, client_ip=client.ip, user_agent=client.user_agent,
            outcome=audit.OUTCOME_DENIED, detail={"cookie": "other" if client.browser_secret else "none"},
        )
