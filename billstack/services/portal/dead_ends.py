"""The page a portal link shows when it no longer opens the portal (issue 13, item 7).

A link of ours (its signature verifies) that expired, was revoked or is bound to another
browser (issue 18: `used`) still names its
session, so the page can wear the project's brand, offer the way back (the session's
return URL, else the project's default) and speak the session's language. Anything else
— a bad signature, garbage, a session that does not exist — gets a neutral page: its
contents cannot be trusted, so nothing project-specific is shown. Never customer data.
"""

from __future__ import annotations

from datetime import datetime

from billstack.client_info import PortalClient
from billstack.db import session_scope
from billstack.i18n import DEFAULT_LOCALE
from billstack.models import Project
from billstack.services.portal.reads import branding_of
from billstack.services.setting_checks import safe_link
from billstack.services.sessions import (
    TOKEN_EXPIRED,
    TOKEN_REVOKED,
    TOKEN_USED,
    PortalTokenError,
    validate_portal_token,
)
from billstack.services.sessions.locales import page_locale
from billstack.services.views import DeadEndView

_KINDS = {TOKEN_EXPIRED: "expired", TOKEN_REVOKED: "revoked", TOKEN_USED: "used"}
NEUTRAL = DeadEndView(kind="invalid", branding=None, return_url=None, locale=DEFAULT_LOCALE)


def dead_end_view(
    token: str, *, browser_secret: str | None = None, accept_language: str | None = None, now: datetime | None = None
) -> DeadEndView:
    """What the dead-end page for `token` shows. For a token that no longer opens the portal
    (call it after validation failed with 401); a token that still validates is not a dead
    end: ValueError. Counts no failed validation against any address (the caller's
    validation did). `browser_secret` is the caller's link-binding cookie: without it a link
    bound to a browser reads as `used`, even in that browser. A session with locale `auto`
    speaks the browser's language (`accept_language`): the customer's own preference is
    customer data, not read for a link that no longer opens."""
    with session_scope() as db:
        try:
            validate_portal_token(db, token, now=now, client=PortalClient(browser_secret=browser_secret))
        except PortalTokenError as exc:
            kind = _KINDS.get(exc.code or "")
            if kind is None or exc.project_id is None:
                return NEUTRAL
            project = db.get(Project, exc.project_id)
            if project is None:
                return NEUTRAL
            return DeadEndView(
                kind=kind,
                branding=branding_of(project),
                return_url=safe_link(exc.return_url or project.default_return_url),
                locale=page_locale(exc.locale, None, accept_language),
            )
    raise ValueError("this portal token still opens the portal: it is not a dead end")
