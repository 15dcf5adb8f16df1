"""What the portal page needs to turn into a dead end (expired, revoked or invalid link)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from billstack.services import portal as portal_service
from billstack.services import sessions
from billstack.services.portal.dead_ends import NEUTRAL  # noqa: F401 - the page's fallback, one definition
from billstack.services.views import DeadEndView

log = logging.getLogger("billstack.portal")


def token_still_valid(db: Any, ctx: sessions.PortalContext) -> None:
    """Nothing to do: run_portal_call's validation is the whole check."""


async def dead_end_of(token: str) -> DeadEndView | None:
    """What the token's dead-end page may show (its project's brand, way back, language);
    None when that cannot be read now."""
    try:
        return await asyncio.to_thread(portal_service.dead_end_view, token)
    except Exception:  # noqa: BLE001 - a plain dead-end page beats a page stuck where it was
        log.warning("dead-end page: reading the link's project failed", exc_info=True)
        return None
