import reflex as rx

config = rx.Config(app_name="billstack", telemetry_enabled=False, plugins=[rx.plugins.SitemapPlugin(), rx.plugins.TailwindV4Plugin()], disable_plugins=["reflex.plugins.sitemap.SitemapPlugin"])
