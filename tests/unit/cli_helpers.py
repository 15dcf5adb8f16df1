"""Running the `billstack` command in-process and reading the database behind its back."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner, Result

from billstack.cli import main
from billstack.db import engine_for

# A well-formed key for projects whose Stripe side a test never calls.
OFFLINE_STRIPE_KEY = "sk_test_offlineKEYnotUsedForCalls0001"


# `project create`/`project update` check the Stripe key with one Stripe call unless told not to.
STRIPE_CHECKED = (["project", "create"], ["project", "update"])


def run(*args: str, input: str | None = None) -> Result:
    """`billstack ARGS…` in-process; exceptions that escape the CLI are test failures.

    Tests' projects mostly hold made-up keys for Stripe bases nothing listens on, so a
    `project create`/`update` here skips the Stripe check (--no-verify) unless the test
    says `--verify` or `--no-verify` itself (tests/unit/test_cli_verify.py does: that is
    where the check is tested, and `run_cli` runs a command line exactly as typed)."""
    command = list(args)
    if command[:2] in STRIPE_CHECKED and not {"--verify", "--no-verify"} & set(command):
        command.append("--no-verify")
    return run_cli(*command, input=input)


def run_cli(*args: str, input: str | None = None) -> Result:
    """`billstack ARGS…` in-process, exactly these arguments."""
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False, prog_name="billstack")


def run_json(*args: str, input: str | None = None) -> dict[str, Any]:
    """`billstack ARGS… --json`, which must succeed and print exactly one JSON object."""
    result = run(*args, "--json", input=input)
    assert result.exit_code == 0, f"billstack {' '.join(args)} failed ({result.exit_code}): {result.output}"
    return json.loads(result.stdout)


def assert_clean_error(result: Result, *, exit_code: int = 1, says: str = "", progress_ok: bool = False) -> str:
    """Non-zero exit, one `error: …` line on stderr, no traceback, nothing on stdout (but progress)."""
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert progress_ok or result.stdout == ""
    if exit_code == 1:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert says.lower() in result.stderr.lower(), result.stderr
    return result.stderr


def row_counts(db_url: str) -> dict[str, int]:
    """Rows per table, read with plain SQL (what a failed command must leave unchanged)."""
    engine = engine_for(db_url)
    with engine.connect() as conn:
        return {
            table: conn.execute(sa.text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one()
            for table in sorted(sa.inspect(conn).get_table_names())
        }


def all_cells(db_url: str) -> list[tuple[str, str, str]]:
    """Every non-null cell of every table as (table, column, text)."""
    engine = engine_for(db_url)
    cells = []
    with engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            result = conn.execute(sa.text(f'SELECT * FROM "{table}"'))
            columns = list(result.keys())
            for row in result:
                cells += [(table, col, str(value)) for col, value in zip(columns, row) if value is not None]
    return cells


def make_team(name: str = "Acme") -> str:
    return run_json("team", "create", "--name", name)["id"]


def make_project(team_id: str, *extra: str, key: str = OFFLINE_STRIPE_KEY) -> dict[str, Any]:
    return run_json("project", "create", "--team", team_id, "--name", "Shop", "--stripe-secret-key", key, *extra)
