"""`billstack serve`: the production server (long-running; --json only changes how a startup
error is printed)."""

from __future__ import annotations

import click

from billstack.cli.output import json_option, progress
from billstack.cli.root import main
from billstack.config import get_settings, resolve_secret_key
from billstack.server import serve as run_server


@main.command(short_help="Run the production server (pages, websocket, APIs).")
@click.option("--host", default=None, help="Bind address [default: BILLSTACK_HOST or 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port [default: BILLSTACK_PORT or 8000].")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (>1 needs REFLEX_REDIS_URL).")
@json_option
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Run the production server (portal pages, websocket and APIs on one port).

    Before binding: migrates the database (waiting if another host is migrating it) and
    uses the frontend bundle `billstack build` made when it is current for the public URL;
    otherwise it says why and builds it (needs bun, once, in this process: workers never do).

    Refuses to start with BILLSTACK_ENV=production and no BILLSTACK_SECRET_KEY.
    Long-running: with --json only a startup error is JSON; the server logs text.
    """
    resolve_secret_key(get_settings())  # fail fast, before building or binding anything
    try:
        run_server(host=host, port=port, workers=workers)
    except KeyboardInterrupt:
        progress("BillStack stopped.")
