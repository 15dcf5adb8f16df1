"""/: what this server is, for someone who opens it directly.

`/?returned-from=billstack` adds a line saying the visitor came back from a billing
portal: the demo tenant's return URL, so the demo's "Return to …" link explains itself
instead of landing on this page unannounced."""

from __future__ import annotations

import reflex as rx

from billstack import routes
from billstack.components.states import message_page

def page() -> rx.Component:
    query = rx.State.router.url.query_parameters.to(dict)
    returned = query[routes.RETURNED_FROM_PARAM] == routes.RETURNED_FROM_PORTAL
    return message_page(
        rx.heading("BillStack Portal", as_="h1", size="7"),
        rx.cond(
            returned,
            rx.callout(
                "This is where your app would be: the customer has returned from the billing portal. "
                "The portal's return link goes to the session's returnUrl, or else the project's "
                "default return URL.",
                icon="info",
                role="status",
                width="100%",
            ),
        ),
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
