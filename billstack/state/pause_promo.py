"""Pause payments, resume them, and add a promotion code, on the portal page.

A state mixin of `PortalState`, like state/cancel.py. The pause dialog opens in the browser
(components/pause_promo.py), so its only round trip is the confirm with the chosen day; the
promotion code form opens inline in its card. Ids and values come from the browser, so they
are checked against the page's own rows here; the services decide the rest
(services/portal/pause.py, services/portal/promotion_codes.py).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import reflex as rx

from billstack import presenters
from billstack.errors import BillStackError, customer_message
from billstack.i18n import format_day, t
from billstack.services.portal import pause as pause_service
from billstack.services.portal import promotion_codes as promo_service
from billstack.services.portal_calls import Work
from billstack.services.views import SubscriptionView
from billstack.state.arguments import well_formed_subscription_id

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # what a date input submits


class PausePromoMixin(rx.State, mixin=True):
    show_pause: bool = False
    show_promotion_code: bool = False
    promo_sub_id: str = ""  # the card whose promotion code form is open
    promo_error: str = ""  # why the code was refused, shown under its field

    # --- pause ------------------------------------------------------------------------------

    @rx.event
    async def confirm_pause(self, sub_id: str, resumes_on: str | None = None) -> AsyncIterator[Any]:
        """The pause dialog's confirm: `resumes_on` is the date input's YYYY-MM-DD ("": none)."""
        row = self._own_row(sub_id, "confirm_pause")
        if self.pending or row is None or not row.can_pause:
            return
        try:
            request = pause_service.PauseRequest(resumes_on=_resume_day(resumes_on))
        except ValueError:
            self._set_notice(t(self.locale, "subs.pause_date_invalid"), "red")
            return
        self.pending, self.notice = f"pause:{sub_id}", ""
        yield
        try:
            updated = await self._run(
                lambda db, ctx: pause_service.pause_payments(db, ctx, sub_id, request),
                work=Work.ACTION, shows_own_change=True,
            )
            self._set_notice(self._paused_notice(updated, self._replace_subscription_row(updated)), "green")
        except BillStackError as exc:
            if exc.code == pause_service.RESUMES_AT_PAST:  # the dialog says so in the page's language
                self._set_notice(t(self.locale, "subs.pause_date_invalid"), "red")
            else:
                self._show_failure(exc)
        except Exception as exc:  # noqa: BLE001 - see PortalState._show_failure
            self._show_failure(exc)
        finally:
            self.pending = ""

    @rx.event
    async def unpause(self, sub_id: str) -> AsyncIterator[Any]:
        row = self._own_row(sub_id, "unpause")
        if self.pending or row is None or not row.can_unpause:
            return
        self.pending, self.notice = f"unpause:{sub_id}", ""
        yield
        try:
            updated = await self._run(
                lambda db, ctx: pause_service.resume_payments(db, ctx, sub_id),
                work=Work.ACTION, shows_own_change=True,
            )
            row = self._replace_subscription_row(updated)
            self._set_notice(t(self.locale, "subs.unpaused_notice", product=row.product), "green")
        except Exception as exc:  # noqa: BLE001 - see PortalState._show_failure
            self._show_failure(exc)
        finally:
            self.pending = ""

    # --- promotion codes --------------------------------------------------------------------

    @rx.event
    def open_promo(self, sub_id: str) -> None:
        row = self._own_row(sub_id, "open_promo")
        if not self.pending and row is not None and row.can_add_promotion_code:
            self.promo_sub_id, self.promo_error, self.notice = row.id, "", ""

    @rx.event
    def close_promo(self) -> None:
        if not self.pending:
            self.promo_sub_id, self.promo_error = "", ""

    @rx.event
    async def apply_promo(self, form: dict[str, Any]) -> AsyncIterator[Any]:
        """The promotion code form's submit: the code as typed, for the card whose form is open."""
        sub_id, code = self.promo_sub_id, form.get("code") if isinstance(form, dict) else None
        row = self._own_row(sub_id, "apply_promo")
        if self.pending or row is None or not row.can_add_promotion_code:
            return
        code = code.strip() if isinstance(code, str) else ""
        if not code:
            self.promo_error = t(self.locale, "promo.required")
            return
        self.pending, self.notice, self.promo_error = f"promo:{sub_id}", "", ""
        yield
        try:
            updated = await self._run(
                lambda db, ctx: promo_service.apply_promotion_code(db, ctx, sub_id, code),
                work=Work.ACTION, shows_own_change=True,
            )
            row = self._replace_subscription_row(updated)
            shown = updated.discount.promotion_code if updated.discount and updated.discount.promotion_code else code
            self.promo_sub_id = ""
            self._set_notice(t(self.locale, "promo.applied_notice", code=shown, product=row.product), "green")
        except promo_service.UnknownPromotionCode:
            self.promo_error = t(self.locale, "promo.invalid")
        except BillStackError as exc:
            if exc.status == 400 and exc.param == "code":  # Stripe's refusal says why: shown under the field
                self.promo_error = customer_message(exc) or t(self.locale, "promo.invalid")
            else:
                self._show_failure(exc)
        except Exception as exc:  # noqa: BLE001 - see PortalState._show_failure
            self._show_failure(exc)
        finally:
            self.pending = ""

    # --- helpers ----------------------------------------------------------------------------

    def _own_row(self, sub_id: object, event: str) -> presenters.SubscriptionRow | None:
        """The page's row `sub_id` names (a forged id finds none)."""
        if not well_formed_subscription_id(sub_id, event):
            return None
        return next((s for s in self.subscriptions if s.id == sub_id), None)

    def _paused_notice(self, updated: SubscriptionView, row: presenters.SubscriptionRow) -> str:
        pause = updated.pause_collection
        if pause is not None and pause.resumes_at is not None:
            return t(self.locale, "subs.paused_until_notice", product=row.product,
                     date=format_day(pause.resumes_at, self.locale))
        return t(self.locale, "subs.paused_notice", product=row.product)


def _resume_day(value: object) -> date | None:
    """The date input's value (None when left empty); ValueError when it is not a day."""
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _DAY.match(value):
        raise ValueError("not a YYYY-MM-DD day")
    return date.fromisoformat(value)
