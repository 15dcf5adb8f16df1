"""The page while it loads: the same frame as the portal (a header with the brand's place,
then the sections' shapes), so nothing jumps when the data arrives."""

from __future__ import annotations

import reflex as rx

from billstack.components.layout import label


def _bar(height: str, width: str = "100%") -> rx.Component:
    return rx.skeleton(rx.box(height=height, width=width), loading=True)


def loading_skeleton() -> rx.Component:
    header = rx.el.header(
        rx.box(
            rx.hstack(_bar("32px", "32px"), _bar("1.5rem", "9rem"), align="center", spacing="3"),
            class_name="page-width portal-header-row",
        ),
        class_name="portal-header portal-header-loading",
    )
    main = rx.el.main(
        rx.flex(
            rx.text(label("portal.loading"), role="status", size="2", color_scheme="gray", high_contrast=True),
            _bar("1.5rem", "10rem"),
            _bar("6rem"),
            _bar("6rem"),
            _bar("1.5rem", "10rem"),
            _bar("4rem"),
            _bar("10rem"),
            direction="column",
            spacing="4",
            width="100%",
        ),
        class_name="page-width portal-main",
        aria_busy="true",
    )
    return rx.fragment(header, main)
