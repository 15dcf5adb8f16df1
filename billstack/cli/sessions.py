"""`billstack session …`: portal sessions (portal_sess_…), the links the session API hands out."""

from __future__ import annotations

import click

from billstack.cli.output import emit, json_option
from billstack.cli.root import main
from billstack.cli.shapes import revoked_session_json
from billstack.cli.work import unit_of_work
from billstack.services import sessions


@main.group("session", short_help="Portal sessions (portal_sess_…): revoke a link.")
def session_group() -> None:
    """Portal sessions (portal_sess_…): the links the session API hands out."""


@session_group.command("revoke", short_help="Revoke a portal session: its link stops working.")
@click.argument("session_id")
@json_option
def session_revoke(session_id: str) -> None:
    """Revoke a portal session at once: its link stops working (revoking twice is harmless)."""
    with unit_of_work() as db:
        data = revoked_session_json(sessions.revoke_portal_session(db, session_id, actor="cli"))
    emit(data, f"Revoked portal session {data['id']} at {data['revokedAt']}; its link no longer opens the portal.")
