"""Secrets at rest and in output: the database is read with plain SQL, outputs are searched.

Stripe secret keys and webhook secrets are sealed (recoverable only with
BILLSTACK_SECRET_KEY), API keys are stored as SHA-256 digests, BILLSTACK_SECRET_KEY is
never stored, and no command prints a Stripe key or webhook secret after it was given.
"""

from __future__ import annotations

import json
import re

import sqlalchemy as sa

from billstack.db import engine_for
from billstack.secrets_box import digest, unseal
from cli_helpers import all_cells, make_team, run, run_json
from tests.conftest import TEST_SECRET_KEY

STRIPE_KEY = "sk_test_firstSECRETkeyABCDEF123456"
STRIPE_KEY_2 = "sk_live_secondSECRETkeyGHIJKL789012"
WEBHOOK_SECRET = "whsec_firstWEBHOOKsecret0123456789"
WEBHOOK_SECRET_2 = "whsec_secondWEBHOOKsecret987654321"


def _distinctive(secret: str) -> str:
    """The part after the well-known prefix: finding it anywhere means the secret leaked.

    Only the known prefix is cut: the random part of an API key may itself contain `_`.
    """
    body = re.sub(r"^(?:(?:sk|rk)_(?:test|live)|whsec|bsk)_", "", secret)
    assert len(body) >= 16, f"too short to be a telling needle: {body!r}"
    return body


def test_nothing_secret_is_stored_in_clear(db_url: str) -> None:
    team_id = make_team()
    project = run_json(
        "project", "create", "--team", team_id, "--name", "Shop",
        "--stripe-secret-key", STRIPE_KEY, "--webhook-secret", WEBHOOK_SECRET,
    )
    first_key = run_json("apikey", "create", "--project", project["id"])
    run_json("project", "update", project["id"], "--stripe-secret-key", STRIPE_KEY_2, "--webhook-secret", WEBHOOK_SECRET_2)
    second_key = run_json("apikey", "create", "--project", project["id"])
    run_json("apikey", "revoke", first_key["id"])

    secrets = {
        "api key 1": first_key["key"],
        "api key 2": second_key["key"],
        "stripe key": STRIPE_KEY,
        "stripe key 2": STRIPE_KEY_2,
        "webhook secret": WEBHOOK_SECRET,
        "webhook secret 2": WEBHOOK_SECRET_2,
        "BILLSTACK_SECRET_KEY": TEST_SECRET_KEY,
    }
    cells = all_cells(db_url)
    assert {table for table, _, _ in cells} >= {"team", "project", "api_key", "audit_event"}
    for name, secret in secrets.items():
        for needle in (secret, _distinctive(secret)):
            leaks = [(table, column) for table, column, text in cells if needle in text]
            assert leaks == [], f"{name} stored in clear in {leaks}"

    # What is stored is still usable: sealed secrets open with the server key, API keys match by digest.
    with engine_for(db_url).connect() as conn:
        sealed_key, sealed_hook = conn.execute(
            sa.text("SELECT stripe_secret_key_sealed, webhook_secret_sealed FROM project WHERE id = :id"),
            {"id": project["id"]},
        ).one()
        hashes = dict(conn.execute(sa.text("SELECT id, key_hash FROM api_key")).all())
    assert (unseal(sealed_key), unseal(sealed_hook)) == (STRIPE_KEY_2, WEBHOOK_SECRET_2)
    assert hashes == {first_key["id"]: digest(first_key["key"]), second_key["id"]: digest(second_key["key"])}


def test_project_commands_never_print_stripe_key_or_webhook_secret(db_url: str) -> None:
    team_id = make_team()
    outputs = []

    def both_formats(*args: str, input: str | None = None) -> None:
        for extra in ((), ("--json",)):
            result = run(*args, *extra, input=input)
            assert result.exit_code == 0, result.output
            outputs.append(result.output)

    created = run(
        "project", "create", "--team", team_id, "--name", "Shop",
        "--stripe-secret-key", STRIPE_KEY, "--webhook-secret", WEBHOOK_SECRET, "--json",
    )
    outputs.append(created.output)
    project_id = json.loads(created.stdout)["id"]
    outputs.append(run(
        "project", "create", "--team", team_id, "--name", "Shop 2",
        "--stripe-secret-key", STRIPE_KEY, "--webhook-secret", WEBHOOK_SECRET,
    ).output)
    both_formats("project", "show", project_id)
    both_formats("project", "list")
    both_formats("project", "update", project_id, "--stripe-secret-key", STRIPE_KEY_2)
    both_formats("project", "update", project_id, "--webhook-secret", WEBHOOK_SECRET_2)
    both_formats("project", "update", project_id, "--stripe-secret-key", "-", input=STRIPE_KEY + "\n")
    both_formats("apikey", "list", "--project", project_id)
    # Secrets pasted into the wrong place are not echoed back in the error either.
    for args in (
        ("--stripe-secret-key", "pk_test_" + _distinctive(STRIPE_KEY)),
        ("--stripe-secret-key", STRIPE_KEY + " extra"),
        ("--webhook-secret", "whsec_" + _distinctive(WEBHOOK_SECRET) + "!"),
        ("--stripe-secret-key", WEBHOOK_SECRET),
    ):
        for extra in ((), ("--json",)):
            failed = run("project", "update", project_id, *args, *extra)
            assert failed.exit_code == 1
            outputs.append(failed.output)

    text = "\n".join(outputs)
    assert "set (test mode)" in text and '"stripeSecretKey": "set"' in text
    for secret in (STRIPE_KEY, STRIPE_KEY_2, WEBHOOK_SECRET, WEBHOOK_SECRET_2, TEST_SECRET_KEY):
        assert _distinctive(secret) not in text


def test_api_key_plaintext_is_printed_only_by_apikey_create(db_url: str) -> None:
    team_id = make_team()
    project_id = run_json("project", "create", "--team", team_id, "--name", "Shop", "--stripe-secret-key", STRIPE_KEY)["id"]
    created = run("apikey", "create", "--project", project_id)
    plaintext = next(word for word in created.stdout.split() if word.startswith("bsk_") and len(word) > 40)
    later = [
        run("apikey", "list", "--project", project_id).output,
        run("apikey", "list", "--project", project_id, "--json").output,
        run("project", "show", project_id, "--json").output,
    ]
    key_id = json.loads(later[1])["data"][0]["id"]
    later.append(run("apikey", "revoke", key_id, "--json").output)
    later.append(run("apikey", "revoke", key_id).output)
    assert all(plaintext not in output and plaintext[12:] not in output for output in later)
