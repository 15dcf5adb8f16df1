"""`project create/update/show` for billing details (Stripe's `features.customer_update`) and
removing saved cards: the fields customers may edit, validated and normalised, shown as text
and JSON, audited. Every test runs on SQLite and PostgreSQL (the `db_url` fixture)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from billstack.db import engine_for
from billstack.services.views import CUSTOMER_UPDATE_FIELDS
from cli_helpers import assert_clean_error, make_project, make_team, row_counts, run, run_json


@pytest.fixture
def project(db_url: str) -> str:
    return make_project(make_team())["id"]


def _update(project_id: str, *args: str) -> dict[str, Any]:
    return run_json("project", "update", project_id, *args)


def _stored(db_url: str, project_id: str) -> tuple[str, bool]:
    with engine_for(db_url).connect() as conn:
        row = conn.execute(
            sa.text("SELECT customer_update_fields, feature_payment_method_remove FROM project WHERE id = :id"),
            {"id": project_id},
        ).one()
    return row[0], bool(row[1])


def test_a_new_project_lets_customers_edit_every_detail_and_remove_cards(project: str, db_url: str) -> None:
    shown = run_json("project", "show", project)
    assert shown["customerUpdate"] == {"enabled": True, "allowedUpdates": list(CUSTOMER_UPDATE_FIELDS)}
    assert shown["features"]["paymentMethodRemove"] is True
    assert _stored(db_url, project) == ("name,email,address,phone,tax_id", True)
    text = run("project", "show", project).stdout
    assert "Customer update" in text and "on (name, email, address, phone, tax id)" in text
    assert "payment method remove on" in text


def test_the_fields_are_stored_in_the_forms_order_and_a_repeat_counts_once(project: str, db_url: str) -> None:
    data = _update(project, "--customer-update-fields", " tax_id,Email, name,email ")

    assert data["customerUpdate"] == {"enabled": True, "allowedUpdates": ["name", "email", "tax_id"]}
    assert _stored(db_url, project)[0] == "name,email,tax_id"
    assert run_json("project", "show", project)["customerUpdate"]["allowedUpdates"] == ["name", "email", "tax_id"]


def test_an_empty_list_turns_editing_off_and_other_settings_stay(project: str, db_url: str) -> None:
    _update(project, "--disable-payment-method-remove")
    data = _update(project, "--customer-update-fields", "")

    assert data["customerUpdate"] == {"enabled": False, "allowedUpdates": []}
    assert data["features"]["paymentMethodRemove"] is False  # untouched by the second update
    assert _stored(db_url, project) == ("", False)
    assert "off (customers cannot edit billing details)" in run("project", "show", project).stdout

    again = _update(project, "--name", "Renamed", "--enable-payment-method-remove")
    assert again["customerUpdate"]["enabled"] is False  # not given: stays off
    assert again["features"]["paymentMethodRemove"] is True


def test_create_takes_both_options(db_url: str) -> None:
    data = make_project(make_team(), "--customer-update-fields", "address,phone", "--disable-payment-method-remove")

    assert data["customerUpdate"] == {"enabled": True, "allowedUpdates": ["address", "phone"]}
    assert data["features"]["paymentMethodRemove"] is False
    assert _stored(db_url, data["id"]) == ("address,phone", False)


@pytest.mark.parametrize("value, says", [
    ("name,shipping", "'shipping'"),
    ("address,tax_ids", "'tax_ids'"),
    ("name email", "'name email'"),  # comma-separated, not space-separated
])
def test_an_unknown_field_is_refused_naming_it_and_changes_nothing(
    project: str, db_url: str, value: str, says: str
) -> None:
    before = row_counts(db_url), _stored(db_url, project)

    result = run("project", "update", project, "--customer-update-fields", value)

    message = assert_clean_error(result, says=says)
    assert "name,email,address,phone,tax_id" in message  # says what is allowed
    assert (row_counts(db_url), _stored(db_url, project)) == before
    as_json = run("project", "update", project, "--customer-update-fields", value, "--json")
    error = json.loads(as_json.stdout)["error"]
    assert (as_json.exit_code, error["param"], error["type"]) == (1, "customerUpdateFields", "invalid_request_error")


def test_changes_are_audited_like_other_options(project: str, db_url: str) -> None:
    _update(project, "--customer-update-fields", "email", "--disable-payment-method-remove")

    with engine_for(db_url).connect() as conn:
        detail = conn.execute(
            sa.text("SELECT detail FROM audit_event WHERE project_id = :id AND action = 'project.updated' "
                    "ORDER BY id DESC"),
            {"id": project},
        ).scalars().first()
    assert json.loads(detail)["fields"] == ["customer_update_fields", "feature_payment_method_remove"]


def test_help_names_the_fields_and_the_switch() -> None:
    text = run("project", "update", "--help").stdout
    assert "--customer-update-fields" in text and "name,email,address,phone,tax_id" in text.replace("\n", "")
    assert "--enable-payment-method-remove / --disable-payment-method-remove" in text
