"""Binding a portal link to the browser that loads it first (see binding.py for the rules).

api_routes/link_binding.py calls `bind_on_first_load` on a page load; the portal page calls
`record_refused_use` when validation refused a load with `token_used`.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from sqlmodel import update

from billstack.client_info import NO_CLIENT, PortalClient
from billstack.clock import utcnow
from billstack.db import session_scope
from billstack.models import PortalSession
from billstack.secrets_box import digest, digests_match
from billstack.services import audit
from billstack.services.sessions.binding import AUDIT_BOUND, AUDIT_LINK_REUSED
from billstack.services.setting_checks import LINK_BINDING_BROWSER
from billstack.services.sessions.tokens import PortalTokenError, decode_token
from billstack.services.sessions.validation import validate_portal_token

log = logging.getLogger("billstack.sessions")


def new_secret() -> str:
    return secrets.token_urlsafe(32)


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
