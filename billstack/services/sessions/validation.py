"""`validate_portal_token()`: THE check for every REST route and every Reflex event.

Signature (current key, then BILLSTACK_SECRET_KEY_PREVIOUS), claims, then the session
row — exists, token digest matches in constant time, not revoked, not expired, its
customer still exists, is not removed, has had no sessions revoked since this one was
made (removal revokes them for good), and still belongs to the project the token
names; last, for a project with link_binding `browser`, that a session bound to a
browser is used with that browser's cookie (services/sessions/binding.py). Failures raise
`PortalTokenError` (HTTP 401) with one of four codes and a generic message; nothing about
the customer is ever in it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from billstack import log_context
from billstack.client_info import NO_CLIENT, PortalClient
from billstack.clock import utcnow
from billstack.errors import rate_limited
from billstack.models import Customer, PortalSession, Project
from billstack.secrets_box import digests_match
from billstack.services import ratelimit
from billstack.services.sessions.binding import check_bound
from billstack.services.sessions.locales import page_locale
from billstack.services.sessions.tokens import (
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    TOKEN_REVOKED,
    TOKEN_USED,
    PortalTokenError,
    decode_token,
)

log = logging.getLogger("billstack.sessions")


@dataclass(frozen=True)
class PortalContext:
    """What a validated token grants: one session of one customer of one project."""

    session: PortalSession
    project: Project
    customer: Customer
    # Who asked (address, user agent, link-binding cookie): the audit trail records it.
    client: PortalClient = NO_CLIENT

    @property
    def session_id(self) -> str:
        return self.session.id

    @property
    def locale(self) -> str:
        """The page's language: the session's, or for `auto` the customer's or browser's."""
        return page_locale(self.session.locale, self.customer.preferred_locales, self.client.accept_language)

    @property
    def return_url(self) -> str | None:
        return self.session.return_url

    @property
    def expires_at(self) -> datetime:
        return self.session.expires_at

    @property
    def flow(self) -> dict[str, Any] | None:
        return json.loads(self.session.flow) if self.session.flow else None


def validate_portal_token(
    db: Session,
    token: str,
    *,
    now: datetime | None = None,
    client: PortalClient = NO_CLIENT,
    project_id: str | None = None,
) -> PortalContext:
    """Returns the session, project and customer a token grants, or raises.

    Raises `PortalTokenError` (401: token_invalid / token_expired / token_revoked / token_used), or
    429 `rate_limited` for a failure from a `client.ip` that has used up its budget of
    failed validations (a valid token from that address still validates).
    `project_id`, when a route knows which project it serves, must match the token's.
    """
    # A valid token always gets through: many customers can share one address (an
    # office behind NAT), and one visitor's failures must not lock the others out.
    client_ip = client.ip
    blocked_for = ratelimit.token_failures.blocked(client_ip) if client_ip else 0
    try:
        ctx = _validate(db, token, now or utcnow(), project_id, client)
    except PortalTokenError as exc:
        log.info("portal token rejected (%s) from %s", exc.code, client_ip or "-")
        # token_used is no guess (the token is genuine and the cookie's secret is 256 random
        # bits): counting it would turn a household's second browser, reloading the "already
        # used" page behind the same address, into "too many attempts" for its other links.
        if client_ip and exc.code != TOKEN_USED:
            ratelimit.token_failures.hit(client_ip)
        if blocked_for:
            raise rate_limited(blocked_for) from None
        raise
    log_context.learn(project=ctx.project.id, customer=ctx.customer.id, session=ctx.session.id)
    return ctx


def _validate(
    db: Session, token: str, now: datetime, expected_project_id: str | None, client: PortalClient
) -> PortalContext:
    claims = decode_token(token)
    if claims is None:
        raise _token_invalid()
    row = db.exec(
        select(PortalSession, Customer, Project)
        .join(Customer, Customer.id == PortalSession.customer_id)
        .join(Project, Project.id == PortalSession.project_id)
        .where(PortalSession.id == claims["sid"])
    ).first()
    if row is None:
        raise _token_invalid()
    session, customer, project = row
    if (
        not digests_match(token, session.token_hash)
        or session.project_id != claims["pid"]
        or session.customer_id != claims["cid"]
        or (expected_project_id is not None and expected_project_id != session.project_id)
    ):
        raise _token_invalid()
    if (
        session.revoked_at is not None
        or customer.removed_at is not None
        or customer.project_id != session.project_id
        # created_at is rounded down to the second: a session of the very second of a
        # removal counts as revoked, never the other way round.
        or (customer.sessions_revoked_at is not None and session.created_at < customer.sessions_revoked_at)
    ):
        raise PortalTokenError(
            TOKEN_REVOKED, "This portal link is no longer valid.",
            return_url=session.return_url, project_id=session.project_id, locale=session.locale,
        )
    if now >= session.expires_at or now.timestamp() >= claims["exp"]:
        raise PortalTokenError(
            TOKEN_EXPIRED, "This portal link has expired.",
            return_url=session.return_url, project_id=session.project_id, locale=session.locale,
        )
    check_bound(session, project, client)
    return PortalContext(session=session, project=project, customer=customer, client=client)


def _token_invalid() -> PortalTokenError:
    return PortalTokenError(TOKEN_INVALID, "This portal link is not valid.")
