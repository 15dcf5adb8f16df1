"""Deep-link flows on the portal page (Stripe's `flow` and `after_completion`): what the page
shows while a flow is open, and where the flow ends.

While a flow is open the customer sees only its subject (Stripe hides the rest of the portal
so the customer can focus on the one action): `scope_view` trims the view itself, so the
rest never reaches the browser, not only out of sight. A flow ends in one of two ways:
its action is done (`completed`: card saved through Checkout, subscription cancelled, plan
changed) → the session's `afterCompletion`; or the customer leaves it ("Keep subscription",
closing the dialog, cancelling Checkout: `left`) → back to the app when the session has a
return URL, else the portal home, never a dead end.

Pure functions of the session's stored flow (canonical JSON, services/sessions/request.py);
the Reflex state only applies what they decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from billstack.services.sessions.request import (
    AFTER_HOSTED_CONFIRMATION,
    AFTER_PORTAL_HOMEPAGE,
    AFTER_REDIRECT,
    FLOW_PAYMENT_METHOD_UPDATE,
    FLOW_TYPES,
)
from billstack.services.setting_checks import safe_link
from billstack.services.views import InvoicePage, PortalView

# The page sections a flow may show (the ids of components' sections): its subject only.
SECTION_SUBSCRIPTIONS = "subscriptions"
SECTION_PAYMENT_METHODS = "payment-methods"

EndKind = Literal["home", "confirmation", "redirect"]


@dataclass(frozen=True, slots=True)
class FlowEnd:
    """Where the page goes when a flow ends: the whole portal (`home`), the confirmation
    (`message`: the tenant's own text, plain text; "" → the generic one) or `url`."""

    kind: EndKind
    message: str = ""
    url: str = ""


HOME = FlowEnd("home")


def is_flow(flow: dict[str, Any] | None) -> bool:
    """A stored deep link the page knows how to run."""
    return bool(flow) and flow.get("type") in FLOW_TYPES  # type: ignore[union-attr]


def subject_section(flow: dict[str, Any]) -> str:
    """The one section an open flow shows."""
    return SECTION_PAYMENT_METHODS if flow.get("type") == FLOW_PAYMENT_METHOD_UPDATE else SECTION_SUBSCRIPTIONS


def scope_view(view: PortalView, flow: dict[str, Any]) -> PortalView:
    """The view as an open flow shows it: the flow's subscription alone (a subscription flow)
    or the cards alone (a payment method flow); no invoices, amounts due or billing details."""
    if subject_section(flow) == SECTION_PAYMENT_METHODS:
        subscriptions, payment_methods = [], view.payment_methods
    else:
        sub_id = flow.get("subscriptionId")
        subscriptions, payment_methods = [s for s in view.subscriptions if s.id == sub_id], []
    return view.model_copy(update={
        "subscriptions": subscriptions,
        "payment_methods": payment_methods,
        "invoices": InvoicePage(invoices=[], has_more=False),
        "amount_due": [],
        "customer": None,
    })


def completed(flow: dict[str, Any]) -> FlowEnd:
    """The flow's action is done: its `afterCompletion` (none stored: the portal home)."""
    after = flow.get("afterCompletion") or {}
    kind = after.get("type", AFTER_PORTAL_HOMEPAGE)
    if kind == AFTER_HOSTED_CONFIRMATION:
        message = after.get("customMessage")
        return FlowEnd("confirmation", message=message if isinstance(message, str) else "")
    if kind == AFTER_REDIRECT:
        # Checked against the project's return origins when stored; checked again on the way out.
        url = safe_link(after.get("returnUrl"))
        return FlowEnd("redirect", url=url) if url else HOME
    return HOME


def left(return_url: str | None) -> FlowEnd:
    """The customer left the flow without doing its action: back to the app they came from
    (the session's return link, as Stripe's flows do), else the whole portal."""
    url = safe_link(return_url)
    return FlowEnd("redirect", url=url) if url else HOME
