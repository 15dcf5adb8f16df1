"""Cancel at period end and resume, on the portal page.

A state mixin of `PortalState`, like state/wallet.py. The services decide what may change
(services/portal.set_cancel_at_period_end re-validates the token and the subscription's owner).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from billstack.i18n import t
from billstack.services import portal as portal_service
from billstack.services.portal_calls import Work
from billstack.services.views import CANCEL_REASONS
from billstack.state.arguments import well_formed_subscription_id


class CancelMixin(rx.State, mixin=True):
    cancel_dialog_open: bool = False
    cancel_sub_id: str = ""
    cancel_product: str = ""
    cancel_end: str = ""
    cancel_reason: str = ""

    @rx.event
    def open_cancel(self, sub_id: str) -> None:
        if not well_formed_subscription_id(sub_id, "open_cancel"):
            return
        row = next((s for s in self.subscriptions if s.id == sub_id), None)
        if row is None or not row.can_cancel:
            return
        self.cancel_sub_id, self.cancel_product, self.cancel_end = row.id, row.product, row.period_end
        self.cancel_reason = ""
        self.cancel_dialog_open = True

    @rx.event
    def set_cancel_dialog_open(self, value: bool) -> None:
        if not self.pending and isinstance(value, bool):
            self.cancel_dialog_open = value

    @rx.event
    def set_cancel_reason(self, value: str) -> None:
        self.cancel_reason = value if isinstance(value, str) and value in CANCEL_REASONS else ""

    @rx.event
    async def confirm_cancel(self) -> AsyncIterator[Any]:
        async for update in self._set_cancel(self.cancel_sub_id, True, self.cancel_reason or None):
            yield update
        if not self.pending and self.notice_tone != "red":
            self.cancel_dialog_open = False

    @rx.event
    async def resume(self, sub_id: str) -> AsyncIterator[Any]:
        async for update in self._set_cancel(sub_id, False, None):
            yield update

    async def _set_cancel(self, sub_id: str, cancel: bool, reason: str | None) -> AsyncIterator[Any]:
        action = "cancel" if cancel else "resume"
        if self.pending or not well_formed_subscription_id(sub_id, action):
            return
        self.pending = f"{action}:{sub_id}"
        self.notice = ""
        yield
        try:
            updated = await self._run(
                lambda db, ctx: portal_service.set_cancel_at_period_end(db, ctx, sub_id, cancel, reason=reason),
                work=Work.ACTION,
            )
            row = self._replace_subscription_row(updated)
            key = "subs.canceled_notice" if cancel else "subs.resumed_notice"
            self._set_notice(t(self.locale, key, product=row.product, date=row.period_end), "green")
        except Exception as exc:  # noqa: BLE001 - see PortalState._show_failure
            self._show_failure(exc)
        finally:
            self.pending = ""
