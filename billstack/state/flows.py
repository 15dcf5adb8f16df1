"""Deep-link flows on the portal page (the session's `flow`, Stripe's `after_completion`).

A state mixin of `PortalState` (state/portal.py), like state/cancel.py. While a flow is open
the page shows only its subject (`flow_section`; the view itself is trimmed by
services/portal/flows.py, so the rest never reaches the browser). The handlers that finish a
flow's action (cancel, plan change, Checkout's return) or close its dialog call `_end_flow`;
where the flow then goes is the service's decision, this only applies it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import reflex as rx

from billstack.services import portal as portal_service
from billstack.services.portal import flows as flow_service
from billstack.services.portal_calls import Work
from billstack.services.sessions import FLOW_SUBSCRIPTION_CANCEL

OPEN, DONE, REDIRECTING = "open", "done", "redirecting"


class FlowMixin(rx.State, mixin=True):
    # "open" while the customer is in a flow (only `flow_section` is shown), "done" (the
    # confirmation page), "redirecting", or "" (no flow, or it ended on the portal home).
    flow_stage: str = ""
    flow_section: str = ""
    flow_message: str = ""  # the confirmation's text: the tenant's customMessage ("": the generic one)
    _flow: dict[str, Any] = {}

    @rx.event
    async def flow_dialog_changed(self, value: bool) -> AsyncIterator[Any]:
        """A flow's dialog that the browser opens and closes by itself (cancel) was closed by
        the customer ("Keep subscription", Escape): the flow ends unfinished. Not when the
        close follows a failure just shown (a retention offer's accept closes the dialog as it
        fails): the customer reads the message first; the header's way back stays."""
        failed = bool(self.notice) and self.notice_tone == "red"
        if value is False and not self.pending and not failed:
            async for update in self._end_flow(False, FLOW_SUBSCRIPTION_CANCEL):
                yield update

    @rx.event
    async def show_whole_portal(self) -> None:
        """A flow ended on the portal home: everything it hid, from the mirror."""
        if self.page_status != "ready" or self.flow_stage:
            return
        try:
            view, version = await self._run(portal_service.mirror_view, work=Work.MIRROR)
        except Exception as exc:  # noqa: BLE001 - see PortalState._show_failure
            self._show_failure(exc)
            return
        self._apply_view(view)
        self._live_version = version

    def _start_flow(self, flow: dict[str, Any] | None) -> None:
        """A page load with a deep link starts it afresh; without one, no flow."""
        started = flow_service.is_flow(flow)
        self._flow = dict(flow) if started and flow else {}
        self.flow_stage = OPEN if started else ""
        self.flow_section = flow_service.subject_section(self._flow) if started else ""
        self.flow_message = ""

    def _flow_scoped(self, view: Any) -> Any:
        """The view as the page may show it now (an open flow: its subject alone)."""
        return flow_service.scope_view(view, self._flow) if self.flow_stage == OPEN else view

    async def _end_flow(self, done: bool, *kinds: str) -> AsyncIterator[Any]:
        """End the open flow if it is one of `kinds`: its action `done` → the session's
        afterCompletion, else the customer left it (services/portal/flows.py decides where to)."""
        if self.flow_stage != OPEN or self._flow.get("type") not in kinds:
            return
        end = flow_service.completed(self._flow) if done else flow_service.left(self.return_url)
        if end.kind == "home":
            self.flow_stage = self.flow_section = ""
            yield type(self).show_whole_portal
            return
        # The flow's own page: nothing of the portal stays on the page or comes back live.
        self._reset_customer_data()
        self._live_generation += 1
        if end.kind == "confirmation":
            self.flow_stage, self.flow_message = DONE, end.message
            return
        self.flow_stage = REDIRECTING
        yield rx.redirect(end.url)
