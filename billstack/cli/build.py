"""`billstack build`: the frontend bundle, ahead of time, so a production host starts without
bun or a compile step (`serve` then finds it current and only serves it)."""

from __future__ import annotations

import sys

import click

from billstack.cli.output import emit, json_mode, json_option
from billstack.cli.root import main
from billstack.config import get_settings
from billstack.server import build_frontend, web_dir


@main.command(short_help="Build the frontend for the public URL, ahead of time.")
@click.option("--public-url", default=None, help="URL the portal is served at [default: BILLSTACK_PUBLIC_URL].")
@click.option("--force", is_flag=True, help="Rebuild even when the bundle is current.")
@json_option
def build(public_url: str | None, force: bool) -> None:
    """Build the portal's frontend for PUBLIC_URL into the build folder (.web, or
    REFLEX_WEB_WORKDIR). Needs bun (`make setup`); a host that only serves the result needs
    neither: copy the folder, and `billstack serve` with the same BILLSTACK_PUBLIC_URL uses it."""
    url = (public_url or get_settings().resolved_public_url).rstrip("/")
    built = build_frontend(url, force=force, out=sys.stderr if json_mode() else sys.stdout)
    folder = str(web_dir())
    emit(
        {"id": url, "object": "frontend_build", "publicUrl": url, "webDir": folder, "built": built},
        f"Build folder: {folder}",
    )
