"""Cancel at period end and resume, on the portal page.

A state mixin of `PortalState`, like state/wallet.py. Each subscription card opens its own
cancel dialog in the browser (components/subscriptions.py), so the only round trip is the
confirm, `confirm_cancel(sub_id, reason, comment)`. The id, reason and comment come from the
browser, so they are checked here against the page's own rows and the project's offered
reasons; the service re-validates the token and the subscription's owner
(services/portal.set_cancel_at_period_end). When the project has a retention offer for the
subscription, the dialog shows it first: accepting is one event (`accept_retention`),
declining one more (`decline_retention`) that turns the dialog to the confirm.
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
from billstack.services.sessions import FLOW_SUBSCRIPTION_CANCEL
from billstack.services.portal.cancel import CANCEL_COMMENT_MAX
from billstack.services.views import CANCEL_REASONS, PortalView
from billstack.state.arguments import well_formed_subscription_id

log = logging.getLogger("billstack.portal")


class CancelMixin(rx.State, mixin=True):
    # The card whose dialog opens as it appears: a `subscription_cancel` flow (deep link) asks
    # for it at load. Cleared by any cancel/resume, so a card shown again later (after a
    # resume) does not reopen it.
    cancel_dialog_open: bool = False
    cancel_sub_id: str = ""
    # The project's cancel settings (the view's `cancellation`): the reasons offered ([]: not
    # asked), whether a cancel ends the subscription now (and credits the unused time), and
    # the retention offer's terms with the subscriptions it is offered for.
    cancel_reasons: list[str] = []
    cancel_now: bool = False
    cancel_prorated: bool = False
    retention_text: str = ""
    retention_sub_ids: list[str] = []
    # Subscriptions whose offer the customer declined on this page: their dialog confirms.
    retention_declined: list[str] = []

    @rx.event
    def open_cancel(self, sub_id: str) -> None:
        row = self._cancellable_row(sub_id, "open_cancel")
        if row is not None:
            self.cancel_sub_id, self.cancel_dialog_open = row.id, True

    @rx.event
    async def confirm_cancel(
        self, sub_id: str, reason: str | None = None, comment: str | None = None
    ) -> AsyncIterator[Any]:
        """The dialog's confirm: `reason` is the chosen radio (None: none chosen), `comment`
        the textarea's text."""
        if self._cancellable_row(sub_id, "confirm_cancel") is None:
            return
        if reason not in (None, "") and (reason not in CANCEL_REASONS or reason not in self.cancel_reasons):
            log.warning("refused confirm_cancel event: a cancel reason the page does not offer")
            return
        if comment is not None and (not isinstance(comment, str) or len(comment) > CANCEL_COMMENT_MAX):
            log.warning("refused confirm_cancel event: malformed comment")
            return
        async for update in self._set_cancel(sub_id, True, reason or None, comment or None):
            yield update

    @rx.event
    def decline_retention(self, sub_id: str) -> None:
        """"No thanks": the dialog goes on to the cancel confirm (the offer is not shown again here)."""
        row = self._cancellable_row(sub_id, "decline_retention")
        if row is not None and row.id not in self.retention_declined:
            self.retention_declined = [*self.retention_declined, row.id]

    @rx.event
    async def accept_retention(self, sub_id: str) -> AsyncIterator[Any]:
        """The offer accepted: the coupon goes on the subscription instead of a cancel."""
        if self.pending or self._cancellable_row(sub_id, "accept_retention") is None \
                or sub_id not in self.retention_sub_ids:
            return
        self.pending = f"retain:{sub_id}"
        self.notice = ""
        self.cancel_dialog_open = False
        yield
        retained = False
        try:
            updated = await self._run(
                lambda db, ctx: portal_service.accept_retention_offer(db, ctx, sub_id),
                work=Work.ACTION,
                shows_own_change=True,  # the row below is all it changes
            )
            row = self._replace_subscription_row(updated)
            self.retention_sub_ids = [i for i in self.retention_sub_ids if i != sub_id]
            self._set_notice(t(self.locale, "retain.accepted_notice", product=row.product), "green")
            retained = True
        except Exception as exc:  # noqa: BLE001 - see PortalState._show_failure
            self._show_failure(exc)
        finally:
            self.pending = ""
        if retained:  # the customer chose to stay: the `subscription_cancel` deep link is done too
            async for update in self._end_flow(True, FLOW_SUBSCRIPTION_CANCEL):
                yield update

    @rx.event
    async def resume(self, sub_id: str) -> AsyncIterator[Any]:
        async for update in self._set_cancel(sub_id, False, None, None):
            yield update

    def _cancellable_row(self, sub_id: object, event: str) -> presenters.SubscriptionRow | None:
        """The page's row `sub_id` names, if it may be cancelled (a forged id finds none)."""
        if not well_formed_subscription_id(sub_id, event):
            return None
        row = next((s for s in self.subscriptions if s.id == sub_id), None)
        return row if row is not None and row.can_cancel else None

    def _apply_cancellation(self, view: PortalView, locale: str) -> None:
        """The view's cancel settings and retention offer; each var assigned only when it
        changes (an assigned var is sent to the page even when equal)."""
        settings = view.cancellation
        offer = settings.retention if settings is not None else None
        values = {
            "cancel_reasons": list(settings.reasons) if settings is not None else [],
            "cancel_now": settings is not None and settings.mode == "immediately",
            "cancel_prorated": settings is not None and settings.proration_behavior == "create_prorations",
            "retention_text": presenters.retention_offer_text(offer, locale) if offer is not None else "",
            "retention_sub_ids": list(offer.subscription_ids) if offer is not None else [],
        }
        for name, value in values.items():
            if getattr(self, name) != value:
                setattr(self, name, value)

    async def _set_cancel(
        self, sub_id: str, cancel: bool, reason: str | None, comment: str | None
    ) -> AsyncIterator[Any]:
        action = "cancel" if cancel else "resume"
        if self.pending or not well_formed_subscription_id(sub_id, action):
            return
        self.pending = f"{action}:{sub_id}"
        self.notice = ""
        self.cancel_dialog_open = False
        yield
        cancelled = False
        try:
            updated = await self._run(
                lambda db, ctx: portal_service.set_cancel_at_period_end(
                    db, ctx, sub_id, cancel, reason=reason, comment=comment
                ),
                work=Work.ACTION,
                shows_own_change=True,  # the row below is all a cancel changes: no second render of the mirror
            )
            row = self._replace_subscription_row(updated)
            ended = updated.status == "canceled"  # the project cancels immediately
            key = "subs.canceled_now_notice" if ended else "subs.canceled_notice" if cancel else "subs.resumed_notice"
            self._set_notice(t(self.locale, key, product=row.product, date=row.period_end), "green")
            cancelled = cancel
        except Exception as exc:  # noqa: BLE001 - see PortalState._show_failure
            self._show_failure(exc)
        finally:
            self.pending = ""
        if cancelled:  # a `subscription_cancel` deep link is done: its afterCompletion follows
            async for update in self._end_flow(True, FLOW_SUBSCRIPTION_CANCEL):
                yield update
