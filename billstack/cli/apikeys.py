"""`billstack apikey …`: project API keys for the session API (stored as hashes; shown once)."""

from __future__ import annotations

import click

from billstack import routes
from billstack.cli.output import emit, json_option, table
from billstack.cli.root import main
from billstack.cli.shapes import api_key_json
from billstack.cli.work import unit_of_work
from billstack.config import get_settings
from billstack.services import tenants


@main.group(short_help="Project API keys for the session API.")
def apikey() -> None:
    """Project API keys for the session API (stored as hashes; shown once)."""


@apikey.command("create", short_help="Create an API key and print it once.")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@json_option
def apikey_create(project_id: str) -> None:
    """Create an API key and print it once: store it in your backend's secrets now."""
    with unit_of_work() as session:
        api_key, plaintext = tenants.create_api_key(session, project_id=project_id)
        team_id = tenants.get_project(session, project_id).team_id
        data = {**api_key_json(api_key), "key": plaintext, "teamId": team_id}
    endpoint = get_settings().resolved_public_url + routes.portal_sessions_path(team_id, project_id)
    emit(
        data,
        [
            f"Created API key {data['id']} for project {project_id}:",
            "",
            f"  {plaintext}",
            "",
            "This is the only time the key is shown; store it in your backend's secrets now.",
            "Create a portal session with:",
            f"  curl -X POST {endpoint} \\",
            f"    -H 'Authorization: Bearer {plaintext}' -H 'Content-Type: application/json' \\",
            "    -d '{\"customerId\": \"pc_…\"}'",
        ],
    )


@apikey.command("list")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@json_option
def apikey_list(project_id: str) -> None:
    """List a project's API keys (prefixes only)."""
    with unit_of_work() as session:
        data = [api_key_json(k) for k in tenants.list_api_keys(session, project_id)]
    rows = [(k["id"], k["prefix"] + "…", k["status"], k["createdAt"], k["lastUsedAt"]) for k in data]
    emit(
        {"object": "list", "data": data},
        table(rows, ("ID", "PREFIX", "STATUS", "CREATED", "LAST USED"), "No API keys for this project."),
    )


@apikey.command("revoke")
@click.argument("key_id")
@json_option
def apikey_revoke(key_id: str) -> None:
    """Revoke an API key at once (revoking twice is harmless)."""
    with unit_of_work() as session:
        data = api_key_json(tenants.revoke_api_key(session, key_id))
    emit(data, f"Revoked API key {data['id']} ({data['prefix']}…) at {data['revokedAt']}.")
