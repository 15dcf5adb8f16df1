"""What the portal page needs to turn into a dead end (expired, revoked, used or invalid link)."""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from billstack.client_info import PortalClient
from billstack.services import portal as portal_service
from billstack.services import sessions
from billstack.services.sessions import first_load
from billstack.services.portal.dead_ends import NEUTRAL  # noqa: F401 - the page's fallback, one definition
from billstack.services.views import DeadEndView

log = logging.getLogger("billstack.portal")


def token_still_valid(db: Any, ctx: sessions.PortalContext) -> None:
    """Nothing to do: run_portal_call's validation is the whole check."""


async def dead_end_of(token: str, client: PortalClient) -> DeadEndView | None:
    """What the token's dead-end page may show (its project's brand, way back, language);
    None when that cannot be read now (or the link still opens the portal for `client`)."""
    try:
        return await asyncio.to_thread(
            functools.partial(portal_service.dead_end_view, token, browser_secret=client.browser_secret,
                              accept_language=client.accept_language)
        )
    except Exception:  # noqa: BLE001 - a plain dead-end page beats a page stuck where it was
        log.warning("dead-end page: reading the link's project failed", exc_info=True)
        return None


async def record_refused_use(token: str, client: PortalClient) -> None:
    """Audit a page load refused because the link is bound to another browser (once per load)."""
    try:
        await asyncio.to_thread(first_load.record_refused_use, token, client)
    except Exception:  # noqa: BLE001 - the used page shows whether or not its audit row was written
        log.warning("dead-end page: auditing a refused link failed", exc_info=True)
