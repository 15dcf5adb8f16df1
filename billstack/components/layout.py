"""Page frame: branded header, notices, footer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx

from billstack.components.elements import image_with_fallback
from billstack.state.portal import PortalState as S


def label(key: str) -> rx.Var:
    return S.labels[key]


def brand_mark() -> rx.Component:
    """The project's logo, or its initial on an accent square when there is none or it fails to load."""
    initial = rx.box(
        S.app_name.to(str)[0],
        aria_hidden="true",
        class_name="brand-mark",
        background_color=S.accent,
        color=S.accent_text,
    )
    return rx.cond(
        (S.logo_url != "") & (S.logo_url != S.logo_failed_url),
        image_with_fallback(src=S.logo_url, alt="", class_name="brand-logo", on_error=S.logo_failed),
        initial,
    )


def header() -> rx.Component:
    brand = rx.hstack(
        brand_mark(),
        rx.heading(S.app_name, as_="h1", size="5", weight="bold"),
        align="center",
        spacing="3",
        class_name="portal-brand",
    )
    links = rx.flex(
        rx.cond(
            S.support_url != "",
            # A mailto: opens the mail app; only a web page opens in a new tab.
            rx.link(
                label("portal.support"),
                href=S.support_url,
                is_external=~S.support_url.to(str).startswith("mailto:"),
                size="2",
            ),
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
        align="center",
        wrap="wrap",
        class_name="portal-header-links",
    )
    return rx.el.header(
        rx.box(brand, links, class_name="page-width portal-header-row"),
        class_name="portal-header",
        border_top=f"4px solid {S.accent}",
    )


def notice() -> rx.Component:
    """The page's message after an action, with a close button at its right."""
    return rx.cond(
        S.notice != "",
        rx.callout.root(
            rx.callout.text(S.notice, class_name="notice-text"),
            rx.icon_button(
                rx.icon("x", size=16, aria_hidden="true"),
                variant="soft",
                color_scheme=S.notice_tone,
                size="2",
                on_click=S.dismiss_notice,
                aria_label=label("portal.dismiss"),
                title=label("portal.dismiss"),
                class_name="notice-close",
            ),
            color_scheme=S.notice_tone,
            role=rx.cond(S.notice_tone == "red", "alert", "status"),
            class_name="portal-notice",
            width="100%",
        ),
    )


def dialog_error() -> rx.Component:
    """A failed action inside its open dialog: the modal hides the page's notice, from
    screen readers too, so the dialog says it itself (role=alert is announced at once)."""
    return rx.cond(
        (S.notice != "") & (S.notice_tone == "red"),
        rx.callout.root(rx.callout.text(S.notice), color_scheme="red", role="alert", class_name="dialog-error"),
    )


def spinner_while(busy: rx.Var) -> rx.Component:
    return rx.cond(busy, rx.spinner(size="1"), rx.fragment())


def destructive_actions(
    keep_key: str, confirm_key: str, busy: rx.Var, on_confirm: rx.EventHandler | None = None, *, submit: bool = False
) -> rx.Component:
    """The buttons of a confirm dialog for an action that cannot be undone: keep (closes it)
    and the red confirm, which spins while `busy` and runs `on_confirm` or (`submit`) submits
    the dialog's form. Red in high contrast: white on Radix red-9 is only 3.9:1."""
    confirm = {"type": "submit"} if submit else {"on_click": on_confirm}
    return rx.flex(
        rx.alert_dialog.cancel(
            rx.button(label(keep_key), type="button", variant="soft", color_scheme="gray", disabled=S.pending != ""),
        ),
        rx.button(spinner_while(busy), label(confirm_key), color_scheme="red", high_contrast=True,
                  disabled=S.pending != "", **confirm),
        spacing="3",
        justify="end",
        class_name="dialog-actions",
    )


def destructive_content(
    title: rx.Var, *body: rx.Component, actions: rx.Component, on_submit: Callable[[Any], Any] | None = None
) -> rx.Component:
    """An alert dialog's content confirming an action that cannot be undone: what it does (and
    any choices), a failure said inside it (`dialog_error`), then `actions`
    (`destructive_actions`); with `on_submit`, a form whose choices it receives."""
    # Spacing comes from the flex gaps (Radix space tokens), never from unitless margins.
    inner = rx.flex(*body, dialog_error(), actions, direction="column", spacing="5")
    return rx.alert_dialog.content(
        rx.alert_dialog.title(title),
        rx.el.form(inner, on_submit=on_submit, reset_on_submit=False) if on_submit is not None else inner,
        max_width="480px",
    )


def destructive_dialog(
    title: rx.Var, *body: rx.Component, actions: rx.Component, open: rx.Var, on_open_change: rx.EventHandler
) -> rx.Component:
    """`destructive_content` in a dialog the server opens and closes."""
    return rx.alert_dialog.root(
        destructive_content(title, *body, actions=actions),
        open=open,
        on_open_change=on_open_change,
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
