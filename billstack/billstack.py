"""The Reflex app: pages plus the REST API mounted through api_transformer. Nothing else."""

import reflex as rx

from api_routes import create_api
from billstack import routes
from billstack.pages import home, portal
from billstack.state.portal import PortalState

app = rx.App(
    stylesheets=["/portal.css"],
    api_transformer=create_api(),
)
app.add_page(home.page, route=routes.HOME, title="BillStack Portal")
app.add_page(portal.page, route=routes.PORTAL, on_load=PortalState.load, title="Billing")
