"""Whole-page states other than 'ready': the loading skeleton and the invalid-link page."""

from __future__ import annotations

import reflex as rx

from billstack.components.layout import label
from billstack.state.portal import PortalState as S


def loading_skeleton() -> rx.Component:
    bar = lambda height: rx.skeleton(rx.box(height=height, width="100%"), loading=True)  # noqa: E731
    return rx.vstack(
        rx.text(label("portal.loading"), role="status", size="2", color_scheme="gray", high_contrast=True),
        bar("2rem"),
        bar("6rem"),
        bar("6rem"),
        bar("4rem"),
        bar("10rem"),
        spacing="4",
        width="100%",
        class_name="page-width",
        padding_y="6",
        aria_busy="true",
    )


def invalid_link() -> rx.Component:
    title = rx.match(
        S.invalid_kind,
        ("expired", label("invalid.expired_title")),
        ("revoked", label("invalid.revoked_title")),
        ("rate_limited", label("invalid.rate_limited_title")),
        label("invalid.invalid_title"),
    )
    body = rx.match(
        S.invalid_kind,
        ("expired", label("invalid.expired_body")),
        ("revoked", label("invalid.revoked_body")),
        ("rate_limited", label("invalid.rate_limited_body")),
        label("invalid.invalid_body"),
    )
    return message_page(
        rx.icon("link-2-off", size=32, aria_hidden="true"),
        rx.heading(title, as_="h1", size="6"),
        rx.text(body, size="3"),
        rx.cond(
            S.return_url != "",
            rx.link(rx.button(label("invalid.back"), size="3"), href=S.return_url),
        ),
        data_invalid_kind=S.invalid_kind,
    )


def load_error() -> rx.Component:
    return message_page(
        rx.heading(label("portal.title"), as_="h1", size="6"),
        rx.text(S.notice, role="alert"),
        rx.button(label("portal.retry"), on_click=S.retry, size="3"),
    )


def message_page(*children: rx.Component, **props) -> rx.Component:
    """A centred card with nothing but a message and one way onward."""
    return rx.el.main(
        rx.card(rx.vstack(*children, spacing="4", align="start"), size="4", max_width="560px", width="100%"),
        class_name="message-page",
        **props,
    )
