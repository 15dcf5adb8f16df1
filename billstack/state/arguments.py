"""Checks on event arguments, which come from the browser and so are never trusted."""

from __future__ import annotations

import logging

from billstack.services import sessions

log = logging.getLogger("billstack.portal")


def well_formed_subscription_id(value: object, event: str) -> bool:
    """Anything but a subscription id is refused (and logged, without the value)."""
    if sessions.is_subscription_id(value):
        return True
    log.warning("refused %s event: malformed subscription id", event)
    return False
