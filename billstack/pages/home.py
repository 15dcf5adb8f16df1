"""/: what this server is, for someone who opens it directly."""

from __future__ import annotations

import reflex as rx

from billstack import routes
from billstack.components.states import message_page


def page() -> rx.Component:
    return message_page(
        rx.heading("BillStack Portal", as_="h1", size="7"),
        rx.text(
            "This server hosts self-service billing portals. Customers arrive here through "
            "a link from their app; there is nothing to sign in to.",
            size="3",
        ),
        rx.text(
            "Integrators: create a portal session with ",
            rx.code("POST " + routes.PORTAL_SESSIONS_PATH),
            " (see ",
            rx.link("the API description", href=routes.OPENAPI_PATH),
            ").",
            size="2",
        ),
    )
