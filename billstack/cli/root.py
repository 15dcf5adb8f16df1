"""The top-level `billstack` group; each command group's module adds its commands to it."""

from __future__ import annotations

import click

from billstack.cli.failures import BillStackGroup
from billstack.cli.output import json_option

MAIN_HELP = """BillStack operator command: teams, projects, API keys, customers, Stripe sync and
webhooks, database, server.

\b
Conventions (every command):
  --json     print exactly one JSON object on stdout: at least "id";
             lists are {"data": [...]}; keys are camelCase.
  errors     "error: <message>" on stderr, exit code 1 (unknown ids, bad
             values, Stripe refusals, configuration, database not migrated).
             With --json the error goes to stdout as
             {"error": {"type", "code", "message", "param"}}, still exit 1.
  usage      missing or unknown flags exit 2 (JSON too with --json).
  atomic     each command is one database transaction: after an error
             nothing was written (`sync` commits customer by customer and
             can be resumed).
  secrets    Stripe secret keys, webhook secrets and BILLSTACK_SECRET_KEY are
             never printed; an API key is printed once, by `apikey create`.
             Pass "-" as a secret's value to read it from stdin instead of
             the command line (keeps it out of shell history and `ps`).

Settings come from BILLSTACK_* environment variables (and .env); the database is
BILLSTACK_DATABASE_URL (default: SQLite in BILLSTACK_DATA_DIR).
"""


@click.group(
    cls=BillStackGroup,
    help=MAIN_HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@json_option
def main() -> None:
    pass


def run() -> None:
    """Entry for `python -m billstack` (same command, same name in help)."""
    main(prog_name="billstack")
