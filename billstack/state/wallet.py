"""The card wallet on the portal page: make a saved card the default, remove one (after a
confirmation). Adding a card is the Checkout hand-off in state/portal.py.

A state mixin of `PortalState`, like state/plans.py. The services decide what may change
(services/portal/payment_methods.py): a removal the project does not allow is 403, the
default card of a live subscription 409 with the words to show, another customer's card 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from billstack import presenters
from billstack.errors import BillStackError
from billstack.i18n import t
from billstack.services.portal import payment_methods as pm_service
from billstack.services.portal_calls import Work
from billstack.services.views import PaymentMethodView


class WalletMixin(rx.State, mixin=True):
    show_pm_remove: bool = False
    card_remove_open: bool = False
    card_remove_id: str = ""
    card_remove_title: str = ""  # "Visa ending in 4242"

    @rx.event
    async def make_default_card(self, pm_id: str) -> AsyncIterator[Any]:
        card = self._card(pm_id)
        if self.pending or card is None or card.is_default:
            return
        self.pending, self.notice = f"default:{pm_id}", ""
        yield
        try:
            made: PaymentMethodView = await self._run(
                lambda db, ctx: pm_service.set_default_payment_method(db, ctx, pm_id), work=Work.ACTION
            )
            self.cards = [
                presenters.CardRow(id=c.id, title=c.title, expiry=c.expiry, is_default=c.id == made.id) for c in self.cards
            ]
            self._set_notice(t(self.locale, "pm.default_notice", card=card.title), "green")
        except Exception as exc:  # noqa: BLE001 - see PortalState._show_failure
            self._show_failure(exc)
        finally:
            self.pending = ""

    @rx.event
    def open_card_remove(self, pm_id: str) -> None:
        card = self._card(pm_id)
        if self.pending or card is None or not self.show_pm_remove:
            return
        self.card_remove_id, self.card_remove_title, self.notice = card.id, card.title, ""
        self.card_remove_open = True

    @rx.event
    def set_card_remove_open(self, value: bool) -> None:
        if not self.pending and isinstance(value, bool):
            self.card_remove_open = value

    @rx.event
    async def confirm_card_remove(self) -> AsyncIterator[Any]:
        pm_id, title = self.card_remove_id, self.card_remove_title
        if self.pending or self._card(pm_id) is None:
            return
        self.pending, self.notice = "card-remove", ""
        yield
        try:
            await self._run(lambda db, ctx: pm_service.remove_payment_method(db, ctx, pm_id), work=Work.ACTION)
            self.cards = [c for c in self.cards if c.id != pm_id]
            self.card_remove_open = False
            self._set_notice(t(self.locale, "pm.removed_notice", card=title), "green")
        except BillStackError as exc:
            if exc.code == pm_service.PAYMENT_METHOD_IN_USE:  # the dialog says to choose another default first, in the page's language
                self._set_notice(t(self.locale, "pm.in_use"), "red")
            else:
                self._show_failure(exc)
        except Exception as exc:  # noqa: BLE001 - see PortalState._show_failure
            self._show_failure(exc)
        finally:
            self.pending = ""

    def _card(self, pm_id: str) -> presenters.CardRow | None:
        return next((c for c in self.cards if c.id == pm_id), None) if isinstance(pm_id, str) else None
