"""Whole-page states other than 'ready' and 'loading' (components/skeleton.py): the dead-end
page of a link that no longer opens, and the load error."""

from __future__ import annotations

import reflex as rx

from billstack.components.banner import TOUCH_PX, link_button
from billstack.components.layout import brand_mark, label
from billstack.state.portal import PortalState as S


def invalid_link() -> rx.Component:
    """Expired, revoked, used (bound to another browser) or invalid: in the project's brand, with its way back and support
    contact, when the link names a project we can trust; a neutral page when nothing is known."""
    title = rx.match(
        S.invalid_kind,
        ("expired", label("invalid.expired_title")),
        ("revoked", label("invalid.revoked_title")),
        ("used", label("invalid.used_title")),
        ("rate_limited", label("invalid.rate_limited_title")),
        label("invalid.invalid_title"),
    )
    body = rx.match(
        S.invalid_kind,
        ("expired", label("invalid.expired_body")),
        ("revoked", label("invalid.revoked_body")),
        ("used", label("invalid.used_body")),
        ("rate_limited", label("invalid.rate_limited_body")),
        label("invalid.invalid_body"),
    )
    known = S.app_name != ""
    back = rx.cond(known, label("portal.return").to(str).replace("{app}", S.app_name), label("invalid.back"))
    support = rx.cond(
        known, label("invalid.support").to(str).replace("{app}", S.app_name), label("invalid.support_neutral")
    )
    return message_page(
        rx.cond(
            known,
            rx.hstack(
                brand_mark(),
                rx.text(S.app_name, size="5", weight="bold", class_name="dead-end-brand"),
                align="center",
                spacing="3",
            ),
        ),
        rx.icon("link-2-off", size=32, aria_hidden="true"),
        rx.heading(title, as_="h1", size="6"),
        rx.text(body, size="3"),
        rx.cond(
            (S.invalid_kind == "invalid") & (S.return_url == ""),
            rx.text(label("invalid.way_forward"), size="2", class_name="dead-end-way-forward"),
        ),
        rx.flex(
            rx.cond(S.return_url != "", link_button(back, S.return_url)),
            rx.cond(
                S.support_url != "",
                rx.link(
                    rx.icon("life-buoy", size=16, aria_hidden="true"),
                    support,
                    href=S.support_url,
                    is_external=~S.support_url.to(str).startswith("mailto:"),
                    size="3",
                    class_name="icon-link dead-end-support",
                    min_height=TOUCH_PX,
                ),
            ),
            align="center",
            wrap="wrap",
            gap="var(--space-4)",
        ),
        data_invalid_kind=S.invalid_kind,
        border_top=rx.cond(known, f"4px solid {S.accent}", "none"),
    )


def load_error() -> rx.Component:
    return message_page(
        rx.heading(label("portal.title"), as_="h1", size="6"),
        rx.text(S.notice, role="alert"),
        rx.button(label("portal.retry"), on_click=S.retry, size="3"),
    )


def message_page(*children: rx.Component, border_top: rx.Var | str = "none", **props) -> rx.Component:
    """A centred card with nothing but a message and one way onward."""
    return rx.el.main(
        rx.card(
            rx.vstack(*children, spacing="4", align="start"),
            size="4",
            max_width="560px",
            width="100%",
            border_top=border_top,
        ),
        class_name="message-page",
        **props,
    )
