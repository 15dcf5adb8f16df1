"""Cancel at period end and resume, on the portal page.

A state mixin of `PortalState`, like state/wallet.py. Each subscription card opens its own
cancel dialog in the browser (components/subscriptions.py), so the only round trip is the
confirm, `confirm_cancel(sub_id, reason)`. The id and reason come from the browser, so they
are checked here against the page's own rows; the service re-validates the token and the
subscription's owner (services/portal.set_cancel_at_period_end).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from billstack import presenters
from billstack.i18n import t
from billstack.services import portal as portal_service
from billstack.services.portal_calls import Work
from billstack.services.views import CANCEL_REASONS
from billstack.state.arguments import well_formed_subscription_id

log = logging.getLogger("billstack.portal")


class CancelMixin(rx.State, mixin=True):
    # The card whose dialog opens as it appears: a `subscription_cancel` flow (deep link) asks
    # for it at load. Cleared by any cancel/resume, so a card shown again later (after a
    # resume) does not reopen it.
    cancel_dialog_open: bool = False
    cancel_sub_id: str = ""

    @rx.event
    def open_cancel(self, sub_id: str) -> None:
        row = self._cancellable_row(sub_id, "open_cancel")
        if row is not None:
            self.cancel_sub_id, self.cancel_dialog_open = row.id, True

    @rx.event
    async def confirm_cancel(self, sub_id: str, reason: str | None = None) -> AsyncIterator[Any]:
        """The dialog's confirm: `reason` is the chosen radio (None: none chosen)."""
        if self._cancellable_row(sub_id, "confirm_cancel") is None:
            return
        if reason not in (None, "", *CANCEL_REASONS):
            log.warning("refused confirm_cancel event: unknown cancel reason")
            return
        async for update in self._set_cancel(sub_id, True, reason or None):
            yield update

    @rx.event
    async def resume(self, sub_id: str) -> AsyncIterator[Any]:
        async for update in self._set_cancel(sub_id, False, None):
            yield update

    def _cancellable_row(self, sub_id: object, event: str) -> presenters.SubscriptionRow | None:
        """The page's row `sub_id` names, if it may be cancelled (a forged id finds none)."""
        if not well_formed_subscription_id(sub_id, event):
            return None
        row = next((s for s in self.subscriptions if s.id == sub_id), None)
        return row if row is not None and row.can_cancel else None

    async def _set_cancel(self, sub_id: str, cancel: bool, reason: str | None) -> AsyncIterator[Any]:
        action = "cancel" if cancel else "resume"
        if self.pending or not well_formed_subscription_id(sub_id, action):
            return
        self.pending = f"{action}:{sub_id}"
        self.notice = ""
        self.cancel_dialog_open = False
        yield
        try:
            updated = await self._run(
                lambda db, ctx: portal_service.set_cancel_at_period_end(db, ctx, sub_id, cancel, reason=reason),
                work=Work.ACTION,
                shows_own_change=True,  # the row below is all a cancel changes: no second render of the mirror
            )
            row = self._replace_subscription_row(updated)
            key = "subs.canceled_notice" if cancel else "subs.resumed_notice"
            self._set_notice(t(self.locale, key, product=row.product, date=row.period_end), "green")
        except Exception as exc:  # noqa: BLE001 - see PortalState._show_failure
            self._show_failure(exc)
        finally:
            self.pending = ""
