"""`PortalClient`: who is behind one portal request (a REST call or a Reflex event).

One layer below the services so that validation (link binding), the rate limits and the
audit trail (client address, user agent) read the same facts without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

# Longer user agents are cut to this (the audit column's size).
USER_AGENT_MAX = 512
# Only the first languages of a longer Accept-Language are kept (a browser sends a handful).
ACCEPT_LANGUAGE_MAX = 1000


@dataclass(frozen=True)
class PortalClient:
    ip: str | None = None
    user_agent: str | None = None
    # The link-binding cookie's secret (services/sessions/binding.py), when the request had it.
    browser_secret: str | None = None
    # The browser's Accept-Language: a session with locale `auto` may be shown in it.
    accept_language: str | None = None

    @classmethod
    def of(
        cls, ip: str | None, user_agent: str | None, browser_secret: str | None, accept_language: str | None = None
    ) -> PortalClient:
        """Empty strings (what Reflex's router gives for a missing header) become None."""
        return cls(ip or None, (user_agent or None) and user_agent[:USER_AGENT_MAX], browser_secret or None,
                   (accept_language or None) and accept_language[:ACCEPT_LANGUAGE_MAX])


NO_CLIENT = PortalClient()
