"""Page frame: branded header, notices, footer."""

from __future__ import annotations

import reflex as rx

from billstack.state.portal import PortalState as S


def label(key: str) -> rx.Var:
    return S.labels[key]


def header() -> rx.Component:
    brand = rx.hstack(
        rx.cond(
            S.logo_url != "",
            rx.image(src=S.logo_url, alt="", height="32px", width="auto", max_width="160px"),
            rx.box(
                S.app_name.to(str)[0],
                aria_hidden="true",
                class_name="brand-mark",
                background_color=S.accent,
                color=S.accent_text,
            ),
        ),
        rx.heading(S.app_name, as_="h1", size="5", weight="bold"),
        align="center",
        spacing="3",
    )
    links = rx.hstack(
        rx.cond(
            S.support_url != "",
            rx.link(label("portal.support"), href=S.support_url, is_external=True, size="2"),
        ),
        rx.cond(
            S.return_url != "",
            rx.link(
                rx.icon("arrow-left", size=16, aria_hidden="true"),
                S.labels["portal.return"].to(str).replace("{app}", S.app_name),
                href=S.return_url,
                size="2",
                weight="medium",
                class_name="icon-link",
            ),
        ),
        spacing="4",
        align="center",
        wrap="wrap",
    )
    return rx.el.header(
        rx.flex(brand, links, justify="between", align="center", wrap="wrap", gap="3", class_name="page-width"),
        class_name="portal-header",
        border_top=f"4px solid {S.accent}",
    )


def notice() -> rx.Component:
    return rx.cond(
        S.notice != "",
        rx.callout.root(
            rx.flex(
                rx.callout.text(S.notice),
                rx.button(
                    label("portal.dismiss"),
                    variant="ghost",
                    size="1",
                    on_click=S.dismiss_notice,
                ),
                justify="between",
                align="center",
                gap="3",
                width="100%",
            ),
            color_scheme=S.notice_tone,
            role=rx.cond(S.notice_tone == "red", "alert", "status"),
            width="100%",
        ),
    )


def stale_notice() -> rx.Component:
    return rx.cond(
        S.stale,
        rx.callout.root(
            rx.callout.text(label("portal.stale")),
            color_scheme="amber",
            role="status",
            width="100%",
        ),
    )


def footer() -> rx.Component:
    return rx.el.footer(
        rx.hstack(
            rx.text(label("portal.powered_by"), size="1", color_scheme="gray"),
            rx.cond(S.terms_url != "", rx.link(label("portal.terms"), href=S.terms_url, size="1", is_external=True)),
            rx.cond(S.privacy_url != "", rx.link(label("portal.privacy"), href=S.privacy_url, size="1", is_external=True)),
            spacing="4",
            justify="center",
            wrap="wrap",
        ),
        class_name="portal-footer page-width",
    )


def section(title_key: str, *children: rx.Component, section_id: str) -> rx.Component:
    return rx.el.section(
        rx.heading(label(title_key), as_="h2", size="4", id=f"{section_id}-heading"),
        *children,
        aria_labelledby=f"{section_id}-heading",
        class_name="portal-section",
    )


def accent_button(*children: rx.Component | rx.Var | str, **props) -> rx.Component:
    """Primary action in the project's accent colour, with readable text on it."""
    return rx.button(
        *children,
        style={"background_color": S.accent, "color": S.accent_text},
        class_name="accent-button",
        **props,
    )
