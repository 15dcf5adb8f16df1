import os

import reflex as rx
from reflex.constants import StateManagerMode
from reflex_base.plugins.sitemap import SitemapPlugin

from billstack.config import ConfigError, get_settings

config = rx.Config(
    app_name="billstack",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(appearance="inherit", accent_color="indigo", gray_color="slate", radius="medium")
        )
    ],
    disable_plugins=[SitemapPlugin],
    # A tab's state holds the portal URL with its token and the customer's data. Reflex's
    # default (disk) pickles it into .states/*.pkl; keep it in this process, or in Redis
    # when several workers share it.
    state_manager_mode=StateManagerMode.REDIS if os.environ.get("REFLEX_REDIS_URL") else StateManagerMode.MEMORY,
    # Reflex's default "*" (with credentials) lets any site call the API and open the
    # websocket; it hands this list to its CORS middlewares and to Socket.IO.
    cors_allowed_origins=get_settings().allowed_origins(),
)

# REFLEX_STATE_MANAGER_MODE / REFLEX_CORS_ALLOWED_ORIGINS would override the two above.
if config.state_manager_mode == StateManagerMode.DISK or "*" in config.cors_allowed_origins:
    raise ConfigError(
        "REFLEX_STATE_MANAGER_MODE=disk and REFLEX_CORS_ALLOWED_ORIGINS=* are refused: portal state holds "
        "tokens and customer data, and the API is only for the public URL and BILLSTACK_CORS_ORIGINS."
    )
