"""Where a deep-link flow ends on its own page (services/portal/flows.py): the hosted
confirmation and the moment before the redirect back to the app."""

from __future__ import annotations

import reflex as rx

from billstack.components.banner import link_button
from billstack.components.layout import brand_mark, label
from billstack.components.states import message_page
from billstack.state.portal import PortalState as S


def _brand() -> rx.Component:
    return rx.hstack(
        brand_mark(),
        rx.text(S.app_name, size="5", weight="bold", class_name="dead-end-brand"),
        align="center",
        spacing="3",
    )


def flow_confirmation() -> rx.Component:
    """`hosted_confirmation`: the tenant's own message as plain text (a text node: markup in
    it stays text), else the generic one, and the way back to the app."""
    return message_page(
        _brand(),
        rx.icon("circle-check", size=32, aria_hidden="true", color=S.accent),
        rx.heading(label("done.title"), as_="h1", size="6"),
        rx.text(
            rx.cond(S.flow_message != "", S.flow_message, label("done.body")),
            size="3",
            class_name="flow-message",
            white_space="pre-line",
            role="status",
        ),
        rx.cond(
            S.return_url != "",
            link_button(label("portal.return").to(str).replace("{app}", S.app_name), S.return_url),
        ),
        border_top=f"4px solid {S.accent}",
        data_flow_end="confirmation",
    )


def flow_redirecting() -> rx.Component:
    """`redirect` (or a flow left unfinished): the browser is on its way back to the app."""
    return message_page(
        _brand(),
        rx.hstack(
            rx.spinner(size="2"),
            rx.text(label("done.redirecting").to(str).replace("{app}", S.app_name), size="3", role="status"),
            align="center",
            spacing="3",
        ),
        border_top=f"4px solid {S.accent}",
        data_flow_end="redirect",
    )
