"""The Reflex app: pages, the REST API mounted through api_transformer, the webhook worker's lifespan,
and the guard that refuses malformed websocket events (billstack/event_guard.py)."""

import reflex as rx

from api_routes import create_api
from billstack import routes
from billstack.event_guard import refuse_malformed_events
from billstack.pages import home, portal
from billstack.services.webhooks import worker_lifespan
from billstack.state.portal import PortalState

app = rx.App(
    stylesheets=["/portal.css"],
    api_transformer=create_api(),
)
app.add_page(home.page, route=routes.HOME, title="BillStack Portal")
app.add_page(portal.page, route=routes.PORTAL, on_load=PortalState.load, title=portal.TITLE)
app.register_lifespan_task(worker_lifespan)
refuse_malformed_events(app.event_namespace)
