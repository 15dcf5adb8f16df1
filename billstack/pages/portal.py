"""/portal/[token]: the customer's billing portal."""

from __future__ import annotations

import reflex as rx

from billstack.components.invoices import invoices_section
from billstack.components.layout import footer, header, notice, stale_notice
from billstack.components.payment_methods import payment_methods_section
from billstack.components.states import invalid_link, load_error, loading_skeleton
from billstack.components.subscriptions import subscriptions_section
from billstack.state.portal import PortalState as S


def portal_body() -> rx.Component:
    return rx.fragment(
        header(),
        rx.el.main(
            rx.vstack(
                rx.cond(
                    S.customer_email != "",
                    rx.text(
                        S.labels["portal.signed_in_as"].to(str).replace("{email}", S.customer_email),
                        size="2",
                        color_scheme="gray",
                        high_contrast=True,
                    ),
                ),
                notice(),
                stale_notice(),
                subscriptions_section(),
                payment_methods_section(),
                invoices_section(),
                spacing="6",
                width="100%",
            ),
            class_name="page-width portal-main",
            id="main",
        ),
        footer(),
    )


def page() -> rx.Component:
    return rx.box(
        rx.match(
            S.page_status,
            ("ready", portal_body()),
            ("invalid", invalid_link()),
            ("error", load_error()),
            loading_skeleton(),
        ),
        class_name="portal-root",
        lang=S.locale,
    )
