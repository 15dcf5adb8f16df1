"""`project create` / `project update` check the Stripe key and API base with one cheap call
(emulator: success; a closed port: unreachable; a live key, which the emulator refuses as
Stripe refuses a revoked one: refused); `--no-verify` skips the check.

These tests run the command lines exactly as typed (`run_cli`): the other CLI tests' `run`
adds --no-verify for their made-up keys."""

from __future__ import annotations

import json
import socket

import pytest
from cli_helpers import OFFLINE_STRIPE_KEY, assert_clean_error, make_team, row_counts, run_cli, run_json

from devtools.emulator import new_account_key

REFUSED_KEY = "sk_live_revokedKey1234567890"


@pytest.fixture
def closed_base() -> str:
    """An API base where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def create(team_id: str, key: str, base: str, *extra: str):
    return run_cli("project", "create", "--team", team_id, "--name", "Shop", "--stripe-secret-key", key,
                   "--stripe-api-base", base, *extra)


def test_a_working_key_and_base_are_checked_and_saved(db_url: str, emulator_url: str) -> None:
    result = create(make_team(), new_account_key(), emulator_url, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stripeApiBase"] == emulator_url


def test_an_unreachable_api_base_is_refused_naming_it(db_url: str, closed_base: str) -> None:
    team_id = make_team()
    before = row_counts(db_url)

    stderr = assert_clean_error(create(team_id, OFFLINE_STRIPE_KEY, closed_base),
                                says=f"Stripe could not be reached at {closed_base}")

    assert "--no-verify" in stderr and "Nothing was saved" in stderr
    assert row_counts(db_url) == before
    as_json = create(team_id, OFFLINE_STRIPE_KEY, closed_base, "--json")
    assert as_json.exit_code == 1
    error = json.loads(as_json.stdout)["error"]
    assert (error["code"], error["param"]) == ("stripe_unreachable", "stripeApiBase") and closed_base in error["message"]


def test_a_refused_key_is_refused_naming_the_url_never_the_key(db_url: str, emulator_url: str) -> None:
    team_id = make_team()
    before = row_counts(db_url)
    stderr = assert_clean_error(create(team_id, REFUSED_KEY, emulator_url),
                                says=f"Stripe at {emulator_url} refused the secret key")
    assert "revokedKey" not in stderr
    assert row_counts(db_url) == before


def test_no_verify_saves_without_calling_stripe(db_url: str, closed_base: str) -> None:
    result = create(make_team(), OFFLINE_STRIPE_KEY, closed_base, "--no-verify", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stripeApiBase"] == closed_base


def test_update_checks_a_new_key_or_base_only(db_url: str, emulator_url: str, closed_base: str) -> None:
    key = new_account_key()
    project_id = json.loads(create(make_team(), key, emulator_url, "--json").stdout)["id"]
    saved = run_json("project", "show", project_id)

    assert_clean_error(run_cli("project", "update", project_id, "--stripe-api-base", closed_base),
                       says=f"Stripe could not be reached at {closed_base}")
    assert_clean_error(run_cli("project", "update", project_id, "--stripe-secret-key", REFUSED_KEY),
                       says=f"Stripe at {emulator_url} refused the secret key")
    assert run_json("project", "show", project_id) == saved

    other_key = new_account_key()
    assert run_cli("project", "update", project_id, "--stripe-secret-key", other_key).exit_code == 0
    moved = run_cli("project", "update", project_id, "--stripe-api-base", closed_base, "--no-verify", "--json")
    assert moved.exit_code == 0 and json.loads(moved.stdout)["stripeApiBase"] == closed_base
    # Nothing Stripe-related changes: no call, even though Stripe is now unreachable.
    renamed = run_cli("project", "update", project_id, "--display-name", "Shop Two", "--json")
    assert renamed.exit_code == 0 and json.loads(renamed.stdout)["displayName"] == "Shop Two"
