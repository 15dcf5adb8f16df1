"""Reflex state for /portal/[token].

Thin by design: every handler hands one service function to
`services.portal_calls.run_portal_call`, which re-validates the token and runs it off the
event loop within the per-project and per-session limits (Stripe round trips must block
neither the loop nor other tenants), and maps the result to display rows. Nothing about
the customer is set before the token validates.

Freshness: `load` renders the mirror at once; an old mirror is refreshed from Stripe
in the background (`refresh_from_stripe`), and `follow_mirror` keeps the open page
live, re-rendering whenever the customer's mirror changes (services/live.py); when the
link ends (its expiry time, or a revocation, which wakes the page the same way) the page
turns into the branded expired/revoked page by itself (`_link_ended`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import reflex as rx

from billstack import billing_rows, presenters, routes
from billstack.client_info import PortalClient
from billstack.config import get_settings
from billstack.errors import BillStackError, customer_message
from billstack.i18n import DEFAULT_LOCALE, card_brand_label, catalogue, normalise_locale, t
from billstack.services import live, sessions
from billstack.services.sessions import binding
from billstack.services import portal as portal_service
from billstack.services.portal_calls import Work, run_portal_call, with_own_change
from billstack.services.setting_checks import safe_link
from billstack.services.views import DEFAULT_ACCENT_COLOR, Branding, DeadEndView, PortalView
from billstack.state import dead_ends
from billstack.state.billing_details import BillingDetailsMixin
from billstack.state.cancel import CancelMixin
from billstack.state.pause_promo import PausePromoMixin
from billstack.state.client_commands import ClientCommandMixin
from billstack.state.flows import DONE, REDIRECTING, FlowMixin
from billstack.state.plans import PlanChangeMixin
from billstack.state.wallet import WalletMixin

log = logging.getLogger("billstack.portal")
# Errors whose own message is for an API client: the page shows its localised words instead.
_NOTICE_KEYS = {
    "stripe_unavailable": "portal.stripe_unavailable",
    "portal_busy": "portal.busy",
    "database_busy": "portal.busy",
    "rate_limited": "portal.busy",  # too many actions from this page (a ready page; see _show_error)
}
T = TypeVar("T")

# A page that knows no project yet (loading, a neutral dead end) wears the default accent.
DEFAULT_LINK_COLOURS = presenters.link_colours(DEFAULT_ACCENT_COLOR)
# A waiting page re-checks this often that it is still the page's current load and unexpired.
LIVE_RECHECK_S = 15.0
# A change that arrives while an action is in flight is applied once the action is done.
LIVE_BUSY_RETRY_S = 0.5


class PortalState(
    CancelMixin, PlanChangeMixin, PausePromoMixin, BillingDetailsMixin, WalletMixin, ClientCommandMixin, FlowMixin,
    rx.State,
):
    # "loading" | "ready" | "invalid"
    page_status: str = "loading"
    invalid_kind: str = "invalid"  # expired | revoked | used | invalid | rate_limited
    locale: str = DEFAULT_LOCALE
    labels: dict[str, str] = catalogue(DEFAULT_LOCALE)

    app_name: str = ""
    logo_url: str = ""
    accent: str = DEFAULT_ACCENT_COLOR
    accent_text: str = "#ffffff"
    link_colour: str = DEFAULT_LINK_COLOURS[0]  # the accent, readable as text (light theme) …
    link_colour_dark: str = DEFAULT_LINK_COLOURS[1]  # … and on the dark theme
    logo_failed_url: str = ""  # a logo that did not load: the page shows the initial instead
    support_url: str = ""
    terms_url: str = ""
    privacy_url: str = ""
    return_url: str = ""
    customer_email: str = ""

    show_cancel: bool = True
    show_resume: bool = True
    show_invoices: bool = True
    show_pm_update: bool = True
    show_plan_change: bool = False

    subscriptions: list[presenters.SubscriptionRow] = []
    invoices: list[billing_rows.InvoiceLine] = []
    amount_due: list[billing_rows.DueRow] = []  # open invoices, shown whatever the toggles say
    invoices_has_more: bool = False
    cards: list[presenters.CardRow] = []
    stale: bool = False

    notice: str = ""
    notice_tone: str = "green"  # green | gray | red
    pending: str = ""  # which action is in flight; every action button is disabled meanwhile

    # Live updates (backend only): the customer whose mirror is on screen, at which version;
    # each load starts a new generation, which ends the previous load's follower.
    _live_customer_id: str = ""
    _live_version: int = 0
    _live_generation: int = 0
    _live_expires_at: float = 0.0

    pm_dialog_open: bool = False

    # --- loading -------------------------------------------------------------------

    @rx.event
    async def load(self) -> AsyncIterator[Any]:
        """on_load: validate the token, then (only then) load the customer's data."""
        if self.page_status != "loading":  # a reload of a page that showed something: clear it first
            self._reset_customer_data()
            self.page_status = "loading"
            yield
        query = dict(self.router.url.query_parameters)
        try:
            if query.get("setup") == "success" and query.get("session_id"):
                await self._run(
                    lambda db, ctx: portal_service.complete_payment_method_update(db, ctx, query["session_id"]),
                    work=Work.ACTION,
                )
            view, refresh_later, version = await self._run(portal_service.load_page_view, work=Work.STRIPE_READ)
        except Exception as exc:  # noqa: BLE001 - the page must leave "loading" whatever failed
            self._show_failure(exc)
            if self.page_status == "invalid":  # a link that does not open: brand it if it names its project
                token, client = self._token(), self._client()
                if self.invalid_kind == "used":  # bound to another browser: audited once per page load
                    await dead_ends.record_refused_use(token, client)
                known = None if self.invalid_kind == "rate_limited" else await dead_ends.dead_end_of(token, client)
                self._show_dead_end(known or dead_ends.NEUTRAL, self.invalid_kind)
            return
        self._start_flow(view.flow)
        self._apply_view(view)
        self.page_status = "ready"
        self._live_customer_id, self._live_version = view.customer_id, version
        self._live_expires_at = view.expires_at.timestamp()
        self._live_generation += 1
        if query.get("setup") == "success":
            default = next((c for c in self.cards if c.is_default), None)
            if default is not None:
                self._set_notice(self._pm_updated_notice(view), "green")
        elif query.get("setup") == "canceled":
            self._set_notice(t(self.locale, "pm.canceled_notice"), "gray")
        if query.get("setup"):
            # Drop ?setup=… so a reload doesn't repeat the confirmation.
            self._drop_query()
        if query.get("setup") and self._flow.get("type") == sessions.FLOW_PAYMENT_METHOD_UPDATE:
            # Back from Checkout in a payment method flow: saved ends it, cancelled leaves it.
            async for update in self._end_flow(query.get("setup") == "success", sessions.FLOW_PAYMENT_METHOD_UPDATE):
                yield update
        else:
            flow_event = self._open_flow(view.flow)
            if flow_event is not None:
                yield flow_event
        if self.flow_stage in (DONE, REDIRECTING):
            return  # the flow ended on its own page (back from Checkout): nothing to refresh or follow
        if refresh_later:
            yield PortalState.refresh_from_stripe
        yield PortalState.follow_mirror

    @rx.event(background=True)
    async def refresh_from_stripe(self) -> None:
        """Saved data is on screen; fetch Stripe's current state and update the open page."""
        async with self:
            token, client = self._token(), self._client()
        try:
            view = await run_portal_call(
                token, client, lambda db, ctx: portal_service.load_portal_view(db, ctx, refresh="always"),
                work=Work.STRIPE_READ,
            )
        except BillStackError:
            return  # expired meanwhile (the next action shows the right page), or too busy: saved data stays
        async with self:
            # An action in flight owns the rows it changes; the next load brings the rest.
            if self.page_status == "ready" and not self.pending and token == self._token():
                self._apply_view(view)

    @rx.event(background=True)
    async def follow_mirror(self) -> None:
        """Live updates: re-render from the mirror whenever it changes (a webhook processed in
        this or another worker, a sync), until another load takes over, the link expires, or
        the page goes away (Reflex cancels a page load's chain when its client disconnects)."""
        async with self:
            generation, token = self._live_generation, self._token()
            customer_id, version, expires_at = self._live_customer_id, self._live_version, self._live_expires_at
            client = self._client()
        while customer_id and time.time() < expires_at:
            changed = await live.watch.wait_for_change(customer_id, version, min(LIVE_RECHECK_S, expires_at - time.time()))
            async with self:
                if not self._live_is_current(generation, token):
                    return
                # The page's own action may have moved it on to `changed` already (`_run`).
                busy, shown, version = bool(self.pending), len(self.invoices), self._live_version
            if changed is None or changed == version:
                continue
            if busy:  # the action owns the rows it changes; catch up once it is done
                await asyncio.sleep(LIVE_BUSY_RETRY_S)
                continue
            limit = min(max(shown, 10), portal_service.INVOICE_PAGE_MAX)  # keep "Show more" pages shown
            try:
                view, new_version = await run_portal_call(
                    token, client, functools.partial(portal_service.mirror_view, invoice_limit=limit),
                    work=Work.MIRROR,
                )
            except BillStackError as exc:
                # Revoked (its revocation woke this page) or expired meanwhile: say so now.
                await self._link_ended(exc, generation, token, client, fallback_kind=_invalid_kind(exc))
                return
            async with self:
                if not self._live_is_current(generation, token):
                    return
                if self.pending:
                    continue
                stale = self.stale  # a failed refresh's notice stays until a full refresh succeeds
                self._apply_view(view)
                self.stale = stale
                self._live_version = version = new_version
        if customer_id:  # the link's time is up: the page turns into the expired page by itself
            try:
                await run_portal_call(token, client, dead_ends.token_still_valid, work=Work.MIRROR)
            except BillStackError as exc:
                await self._link_ended(exc, generation, token, client, fallback_kind="expired")

    async def _link_ended(
        self, exc: BillStackError, generation: int, token: str, client: PortalClient, *, fallback_kind: str
    ) -> None:
        """An open page whose link stopped validating shows the expired/revoked page, without a click."""
        if exc.status not in (401, 429):  # busy or down: the link may be fine; the next action tells
            return
        known = await dead_ends.dead_end_of(token, client)
        async with self:
            if self._live_is_current(generation, token):
                self._show_dead_end(known, known.kind if known is not None else fallback_kind)

    def _live_is_current(self, generation: int, token: str) -> bool:
        return self._live_generation == generation and self.page_status == "ready" and token == self._token()

    @rx.event
    async def retry(self) -> AsyncIterator[Any]:
        async for update in self.load():
            yield update

    @rx.event
    async def show_more_invoices(self) -> AsyncIterator[Any]:
        if self.pending or not self.invoices:
            return
        self.pending = "invoices"
        yield
        cursor = self.invoices[-1].id
        try:
            page = await self._run(
                lambda db, ctx: portal_service.list_invoices(db, ctx, starting_after=cursor), work=Work.MIRROR
            )
            self.invoices = self.invoices + [billing_rows.invoice_line(i, self.locale) for i in page.invoices]
            self.invoices_has_more = page.has_more
        except Exception as exc:  # noqa: BLE001 - see _show_failure
            self._show_failure(exc)
        finally:
            self.pending = ""

    # --- payment method --------------------------------------------------------------

    @rx.event
    async def set_pm_dialog_open(self, value: bool) -> AsyncIterator[Any]:
        if not self.pending and isinstance(value, bool):
            self.pm_dialog_open = value
            if not value:  # closed by the customer: a payment method flow ends unfinished
                async for update in self._end_flow(False, sessions.FLOW_PAYMENT_METHOD_UPDATE):
                    yield update

    @rx.event
    async def start_pm_update(self) -> AsyncIterator[Any]:
        if self.pending:
            return
        self.pending = "pm"
        self.notice = ""  # the dialog shows this attempt's failure, not an older one
        yield
        portal_url = routes.portal_url(get_settings().resolved_public_url, self._token())
        try:
            checkout = await self._run(
                lambda db, ctx: portal_service.start_payment_method_checkout(db, ctx, portal_url=portal_url),
                work=Work.ACTION,
            )
        except Exception as exc:  # noqa: BLE001 - see _show_failure
            self._show_failure(exc)
            self.pending = ""
            return
        # `pending` stays set: the browser is leaving for Stripe Checkout.
        yield rx.redirect(checkout.url, is_external=False)

    @rx.event
    def dismiss_notice(self) -> None:
        self.notice = ""

    @rx.event
    def logo_failed(self) -> None:
        """The logo's image did not load (its onError): show the initial in its place."""
        self.logo_failed_url = self.logo_url

    # --- helpers ---------------------------------------------------------------------

    def _token(self) -> str:
        return routes.token_from_path(self.router.url.path)

    def _client(self) -> PortalClient:
        """Who is on this page: the websocket's address, user agent and link-binding cookie."""
        headers = self.router.headers
        return PortalClient.of(
            self.router.session.client_ip, headers.user_agent, binding.secret_from_cookie_header(headers.cookie),
            headers.accept_language,
        )

    async def _run(
        self, action: Callable[[Any, sessions.PortalContext], T], *, work: Work, shows_own_change: bool = False
    ) -> T:
        """Validate the token and run one service call off the event loop (services/portal_calls.py).

        `shows_own_change`: the caller puts everything the action changes on screen from its
        result (cancel/resume: the one subscription row), so when the page showed the mirror
        as it was before, it is now current at the version the action left: `follow_mirror`
        does not render the mirror again for the page's own change."""
        if not shows_own_change:
            return await run_portal_call(self._token(), self._client(), action, work=work)
        result, change = await run_portal_call(self._token(), self._client(), with_own_change(action), work=work)
        if change is not None and change[0] == self._live_version:
            self._live_version = change[1]
        return result

    def _apply_view(self, view: PortalView) -> None:
        if self.flow_stage in (DONE, REDIRECTING):
            return  # the flow ended on its own page: the portal does not come back behind it
        view = self._flow_scoped(view)
        locale = normalise_locale(view.locale)
        features = view.features
        self._set_locale(locale)
        self._apply_branding(view.branding)
        self.return_url = view.return_url or ""
        self.customer_email = view.customer_email or ""
        self.show_cancel, self.show_resume = features.cancel, features.resume
        self.show_invoices, self.show_pm_update = features.invoice_history, features.payment_method_update
        self.show_plan_change = features.plan_change
        self.show_pm_remove = features.payment_method_remove
        self.show_pause, self.show_promotion_code = features.pause, features.promotion_code
        self._apply_details(view.customer.details if view.customer is not None else None, features)
        self.subscriptions = [
            presenters.subscription_row(
                s, locale, allow_cancel=features.cancel, allow_resume=features.resume, allow_plan_change=features.plan_change,
                allow_pause=features.pause, allow_promotion_code=features.promotion_code,
            )
            for s in view.subscriptions
        ]
        self.invoices = [billing_rows.invoice_line(i, locale) for i in view.invoices.invoices]
        self.amount_due = billing_rows.due_rows(view.amount_due, locale)
        self.invoices_has_more = view.invoices.has_more
        self.cards = [presenters.card_row(m, locale) for m in view.payment_methods]
        self.stale = view.stale
        self._apply_cancellation(view, locale)

    def _set_locale(self, locale: str) -> None:
        """The page's language; its labels (a few hundred strings) go to the page only when it
        changes, not with every render: an assigned var is sent even if its value is the same."""
        if locale != self.locale:
            self.locale, self.labels = locale, catalogue(locale)

    def _apply_branding(self, branding: Branding | None) -> None:
        """The project's look; None (a link that names no project we can trust): neutral."""
        accent = branding.accent_color if branding is not None else DEFAULT_ACCENT_COLOR
        self.app_name = branding.display_name if branding is not None else ""
        self.logo_url = (branding.logo_url or "") if branding is not None else ""
        self.accent = accent
        self.accent_text = presenters.readable_text_on(accent)
        self.link_colour, self.link_colour_dark = presenters.link_colours(accent)
        support_email = branding.support_email if branding is not None else None
        self.support_url = (branding.support_url if branding is not None else None) or (
            f"mailto:{support_email}" if support_email else ""
        )
        self.terms_url = (branding.terms_url or "") if branding is not None else ""
        self.privacy_url = (branding.privacy_url or "") if branding is not None else ""

    def _show_dead_end(self, dead_end: DeadEndView | None, kind: str) -> None:
        """The expired/revoked/invalid page, in the brand, language and way back that
        `dead_end` knows (None: keep those of the page that was open)."""
        self._reset_customer_data()
        self.page_status, self.invalid_kind = "invalid", kind
        if dead_end is None:
            return
        self._apply_branding(dead_end.branding)
        self.return_url = dead_end.return_url or ""
        if dead_end.branding is not None:
            self._set_locale(normalise_locale(dead_end.locale))

    def _open_flow(self, flow: dict[str, Any] | None) -> Any:
        """Deep links from the session's `flow` open the matching dialog at once; the plan
        dialogs load what they show first, so they come back as the event that does it."""
        if not flow:
            return None
        kind, sub_id = flow.get("type"), str(flow.get("subscriptionId", ""))
        if kind == sessions.FLOW_SUBSCRIPTION_CANCEL:
            self.open_cancel(sub_id)
        elif kind == sessions.FLOW_PAYMENT_METHOD_UPDATE and self.show_pm_update:
            self.pm_dialog_open = True
        elif kind == sessions.FLOW_SUBSCRIPTION_UPDATE:
            return PortalState.open_plan_picker(sub_id)
        elif kind == sessions.FLOW_SUBSCRIPTION_UPDATE_CONFIRM:
            quantity = flow.get("quantity")
            return PortalState.open_plan_confirm(
                sub_id, str(flow.get("priceId", "")), quantity if isinstance(quantity, int) else 0
            )
        return None

    def _pm_updated_notice(self, view: PortalView) -> str:
        default = next((m for m in view.payment_methods if m.is_default), None)
        if default is None:
            return ""
        return t(self.locale, "pm.updated_notice", brand=card_brand_label(default.brand), last4=default.last4 or "")

    def _set_notice(self, text: str, tone: str) -> None:
        self.notice, self.notice_tone = text, tone

    def _show_failure(self, exc: Exception) -> None:
        """Any failure of an action ends in a message, never in a page stuck on "working".

        BillStack's own errors say what happened; anything else (a bug, a database
        fault) is logged here and shown as the generic "nothing was changed" notice.
        """
        if isinstance(exc, BillStackError):
            self._show_error(exc)
            return
        log.error("portal event failed unexpectedly", exc_info=exc)
        self._set_notice(t(self.locale, "portal.error_generic"), "red")
        if self.page_status == "loading":
            self.page_status = "error"

    def _show_error(self, exc: BillStackError) -> None:
        """Token problems become the 'link not valid' page; the rest a message, never a trace."""
        if exc.status in (401, 429) and self.page_status != "ready":
            self._reset_customer_data()
            self.page_status = "invalid"
            self.invalid_kind = _invalid_kind(exc)
            self.return_url = safe_link(getattr(exc, "return_url", None)) or ""
            return
        if exc.status == 401:  # expired while the page was open
            self._reset_customer_data()
            self.page_status = "invalid"
            self.invalid_kind = _invalid_kind(exc)
            return
        key = _NOTICE_KEYS.get(exc.code or "")
        self._set_notice(t(self.locale, key) if key else (customer_message(exc) or t(self.locale, "portal.error_generic")), "red")
        if self.page_status == "loading":
            self.page_status = "error"

    def _reset_customer_data(self) -> None:
        self.subscriptions, self.invoices, self.cards, self.amount_due = [], [], [], []
        self.customer_email = ""
        self.notice, self.pending = "", ""
        self.promo_sub_id, self.promo_error = "", ""
        self.cancel_dialog_open = self.pm_dialog_open = self.plan_dialog_open = self.card_remove_open = False
        self._reset_details()


def _invalid_kind(exc: BillStackError) -> str:
    if exc.status == 429:
        return "rate_limited"
    for kind in ("expired", "revoked", "used"):
        if kind in (exc.code or ""):
            return kind
    return "invalid"
