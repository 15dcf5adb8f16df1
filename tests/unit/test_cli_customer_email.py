"""`billstack customer create` with an email the project already has: refused (no second
Stripe customer) unless --allow-duplicate-email, which creates it with a warning."""

from __future__ import annotations

import json

import pytest
import stripe
from cli_helpers import assert_clean_error, make_project, make_team, row_counts, run, run_json

from devtools.emulator import new_account_key


@pytest.fixture
def account(db_url: str, emulator_url: str) -> dict:
    key = new_account_key()
    project = make_project(make_team(), "--stripe-api-base", emulator_url, key=key)
    client = stripe.StripeClient(key, base_addresses={"api": emulator_url})
    return {"project": project["id"], "client": client}


def test_a_second_customer_with_the_same_email_is_refused(db_url: str, account: dict) -> None:
    first = run_json("customer", "create", "--project", account["project"], "--email", "ada@example.com")
    before = row_counts(db_url)

    refused = run("customer", "create", "--project", account["project"], "--email", "ADA@example.com ")

    stderr = assert_clean_error(refused, says=f"ADA@example.com already has a customer in this project ({first['id']})")
    assert "--allow-duplicate-email" in stderr
    assert row_counts(db_url) == before
    assert [c.id for c in account["client"].v1.customers.list().data] == [first["stripeCustomerId"]]

    as_json = run("customer", "create", "--project", account["project"], "--email", "ada@example.com", "--json")
    assert as_json.exit_code == 1
    error = json.loads(as_json.stdout)["error"]
    assert (error["code"], error["param"]) == ("resource_already_exists", "allowDuplicateEmail")


def test_allow_duplicate_email_creates_it_with_a_warning(db_url: str, account: dict) -> None:
    first = run_json("customer", "create", "--project", account["project"], "--email", "ada@example.com")

    result = run("customer", "create", "--project", account["project"], "--email", "ada@example.com",
                 "--allow-duplicate-email", "--json")

    assert result.exit_code == 0, result.output
    second = json.loads(result.stdout)
    assert second["id"] != first["id"] and second["stripeCustomerId"] != first["stripeCustomerId"]
    [warning] = second["warnings"]
    assert "ada@example.com now has 2 customers in this project" in warning
    assert first["id"] in warning and second["id"] in warning
    assert result.stderr == f"warning: {warning}\n"
    listed = run_json("customer", "list", "--project", account["project"])["data"]
    assert [c["id"] for c in listed] == [first["id"], second["id"]]
    assert "warnings" not in first  # the usual shape when there is nothing to warn about

    human = run("customer", "create", "--project", account["project"], "--email", "ada@example.com",
                "--allow-duplicate-email")
    assert human.exit_code == 0 and human.stdout.startswith("Created customer pc_")
    assert human.stderr.startswith("warning: ada@example.com now has 3 customers in this project")


def test_a_removed_customer_or_another_project_does_not_count(db_url: str, account: dict, emulator_url: str) -> None:
    first = run_json("customer", "create", "--project", account["project"], "--email", "ada@example.com")
    other = make_project(make_team("Other"), "--stripe-api-base", emulator_url, key=new_account_key())
    elsewhere = run("customer", "create", "--project", other["id"], "--email", "ada@example.com", "--json")
    assert elsewhere.exit_code == 0 and "warnings" not in json.loads(elsewhere.stdout) and elsewhere.stderr == ""

    run_json("customer", "remove", "--project", account["project"], first["id"])
    again = run("customer", "create", "--project", account["project"], "--email", "ada@example.com", "--json")
    assert again.exit_code == 0 and "warnings" not in json.loads(again.stdout) and again.stderr == ""
