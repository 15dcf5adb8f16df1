"""`billstack team …`: the organisation that owns projects."""

from __future__ import annotations

import click

from billstack.cli.output import emit, json_option, table
from billstack.cli.root import main
from billstack.cli.shapes import team_json
from billstack.cli.work import unit_of_work
from billstack.services import tenants


@main.group()
def team() -> None:
    """Teams: the organisation that owns projects."""


@team.command("create")
@click.option("--name", required=True, help="Team name.")
@json_option
def team_create(name: str) -> None:
    """Create a team."""
    with unit_of_work() as session:
        data = team_json(tenants.create_team(session, name=name))
    emit(data, f"Created team {data['id']} ({data['name']}).")


@team.command("list")
@json_option
def team_list() -> None:
    """List teams."""
    with unit_of_work() as session:
        data = [team_json(t) for t in tenants.list_teams(session)]
    emit(
        {"object": "list", "data": data},
        table([(t["id"], t["name"], t["createdAt"]) for t in data], ("ID", "NAME", "CREATED"), "No teams yet."),
    )
