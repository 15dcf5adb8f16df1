"""/portal/[token]: the customer's billing portal."""

from __future__ import annotations

import reflex as rx

from billstack.components.banner import amount_due_banner
from billstack.components.billing_details import billing_details_section
from billstack.components.client_commands import client_commands
from billstack.components.elements import after_first_paint, document_lang
from billstack.components.flow_end import flow_confirmation, flow_redirecting
from billstack.components.invoices import invoices_section
from billstack.components.layout import footer, header, notice, stale_notice
from billstack.components.payment_methods import payment_methods_section
from billstack.components.skeleton import loading_skeleton
from billstack.components.states import invalid_link, load_error
from billstack.components.subscriptions import subscriptions_section
from billstack.services.portal.flows import SECTION_PAYMENT_METHODS, SECTION_SUBSCRIPTIONS
from billstack.state.portal import PortalState as S

# The tab's title: "Acme Cloud · Billing" in the customer's language ("Billing" until the
# project is known).
TITLE = rx.cond(
    S.app_name != "",
    S.labels["portal.document_title"].to(str).replace("{app}", S.app_name),
    S.labels["portal.title"],
)


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
                # Inside a deep-link flow only its subject is shown (`flow_section`), as in
                # Stripe's portal; the state holds nothing of the rest either.
                rx.cond(S.flow_section == "", amount_due_banner()),
                rx.cond(S.flow_section != SECTION_PAYMENT_METHODS, subscriptions_section()),
                # The sections below render in the next frame: the subscriptions (what most
                # visits come for) are painted without waiting for the whole page's render.
                rx.cond(
                    after_first_paint(),
                    rx.cond(
                        S.flow_section == "",
                        rx.fragment(payment_methods_section(), billing_details_section(), invoices_section()),
                        rx.cond(S.flow_section == SECTION_PAYMENT_METHODS, payment_methods_section()),
                    ),
                ),
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
        document_lang(lang=S.locale),
        client_commands(command=S.client_command),
        rx.match(
            S.page_status,
            ("ready", rx.match(
                S.flow_stage,
                ("done", flow_confirmation()),
                ("redirecting", flow_redirecting()),
                portal_body(),
            )),
            ("invalid", invalid_link()),
            ("error", load_error()),
            loading_skeleton(),
        ),
        class_name="portal-root",
        lang=S.locale,
        # Links take the project's accent (made readable as text); portal.css applies them.
        style={"--brand-link": S.link_colour, "--brand-link-dark": S.link_colour_dark},
    )
