"""`billstack webhooks register` and `billstack webhooks status` (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest
from cli_helpers import all_cells, make_project, make_team, run, run_json

from billstack.config import reset_settings
from billstack.db import session_scope
from devtools.emulator import new_account_key
from billstack.ids import new_id
from billstack.models import Customer, Project
from billstack.secrets_box import unseal
from billstack.services import webhooks

SECRET = "whsec_statusTestSecret000000"


def endpoints(emulator_url: str, key: str) -> list[dict]:
    response = httpx.get(f"{emulator_url}/v1/webhook_endpoints", headers={"Authorization": f"Bearer {key}"})
    return response.json()["data"]


def stored_secret(project_id: str) -> str:
    with session_scope() as db:
        return unseal(db.get(Project, project_id).webhook_secret_sealed)


def test_register_creates_the_endpoint_and_keeps_only_its_sealed_secret(
    db_url: str, emulator_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLSTACK_PUBLIC_URL", "https://billing.example.com")
    reset_settings()
    key = new_account_key()
    project_id = make_project(make_team(), "--stripe-api-base", emulator_url, key=key)["id"]

    result = run("webhooks", "register", "--project", project_id, "--json")

    assert result.exit_code == 0, result.output
    first = json.loads(result.stdout)
    expected_url = f"https://billing.example.com/api/billstack/webhooks/stripe/{project_id}"
    assert (first["url"], first["webhookSecret"], first["replaced"]) == (expected_url, "set", None)
    assert first["id"].startswith("we_") and first["enabledEvents"] == list(webhooks.HANDLED_EVENTS)
    [endpoint] = endpoints(emulator_url, key)
    assert (endpoint["id"], endpoint["url"], endpoint["enabled_events"]) == (first["id"], expected_url, first["enabledEvents"])
    secret = stored_secret(project_id)
    assert secret.startswith("whsec_") and "whsec_" not in result.output
    assert not [cell for cell in all_cells(db_url) if secret in cell[2]]  # stored sealed only
    assert run_json("project", "show", project_id)["webhookSecret"] == "set"

    second = run_json("webhooks", "register", "--project", project_id, "--url", "https://hooks.example.com/stripe")

    assert second["replaced"] == first["id"] and second["id"] != first["id"]
    assert [(e["id"], e["url"]) for e in endpoints(emulator_url, key)] == [(second["id"], "https://hooks.example.com/stripe")]
    assert stored_secret(project_id) != secret


def test_register_refuses_a_bad_url_and_changes_nothing(db_url: str, emulator_url: str) -> None:
    key = new_account_key()
    project_id = make_project(make_team(), "--stripe-api-base", emulator_url, key=key)["id"]

    result = run("webhooks", "register", "--project", project_id, "--url", "ftp://example.com/hook")

    assert result.exit_code == 1 and "url must be an http(s) URL" in result.stderr
    assert endpoints(emulator_url, key) == [] and run_json("project", "show", project_id)["webhookSecret"] is None


@pytest.mark.parametrize(
    ("url", "host"),
    [("http://localhost:8000/hook", "localhost"), ("https://192.168.1.20/hook", "192.168.1.20"),
     ("https://billing.local/hook", "billing.local"), ("http://[::1]:8000/hook", "::1"),
     ("https://intranet/hook", "intranet")],
)
def test_register_with_a_non_public_url_registers_it_with_a_warning(
    db_url: str, emulator_url: str, url: str, host: str
) -> None:
    key = new_account_key()
    project_id = make_project(make_team(), "--stripe-api-base", emulator_url, key=key)["id"]

    result = run("webhooks", "register", "--project", project_id, "--url", url, "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [e["url"] for e in endpoints(emulator_url, key)] == [url] and data["url"] == url
    [warning] = data["warnings"]
    assert warning.startswith(f"{url} is not a public URL ({host} is local or private): Stripe cannot reach it")
    assert result.stderr == f"warning: {warning}\n"
    human = run("webhooks", "register", "--project", project_id, "--url", url)
    assert human.exit_code == 0 and human.stdout.startswith("Registered webhook endpoint")
    assert human.stderr.startswith("warning: ") and "Stripe cannot reach it" in human.stderr


def test_register_with_a_public_url_says_nothing_more(db_url: str, emulator_url: str) -> None:
    project_id = make_project(make_team(), "--stripe-api-base", emulator_url, key=new_account_key())["id"]
    result = run("webhooks", "register", "--project", project_id, "--url", "https://billing.example.com/hook", "--json")
    assert result.exit_code == 0 and result.stderr == "" and "warnings" not in json.loads(result.stdout)


def _deliver(project_id: str, event: dict) -> None:
    payload = json.dumps(event).encode()
    t = int(time.time())
    signature = f"t={t},v1=" + hmac.new(SECRET.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    with session_scope() as db:
        webhooks.receive_event(db, project_id, payload, signature)


def _event(event_type: str, obj: dict) -> dict:
    return {"id": new_id("evt"), "object": "event", "type": event_type, "created": int(time.time()),
            "data": {"object": obj}}


def test_status_shows_last_received_counts_lag_and_failures(db_url: str) -> None:
    # Stripe is unreachable for this project (nothing listens on port 9): its event must fail.
    project_id = make_project(make_team(), "--webhook-secret", SECRET, "--stripe-api-base", "http://127.0.0.1:9")["id"]
    with session_scope() as db:
        db.add(Customer(id=new_id("pc"), project_id=project_id, stripe_customer_id="cus_known000", email="k@example.com"))
    _deliver(project_id, _event("product.created", {"id": "prod_1", "object": "product"}))
    _deliver(project_id, _event("customer.subscription.updated", {"id": "sub_1", "customer": "cus_stranger"}))
    failing = _event("customer.subscription.updated", {"id": "sub_2", "customer": "cus_known000"})
    _deliver(project_id, failing)
    webhooks.process_due_events()

    status = run_json("webhooks", "status", "--project", project_id)

    assert status["counts"] == {"received": 3, "applied": 0, "unchanged": 0, "ignored": 2, "pending": 0,
                                "retrying": 1, "failed": 0}
    assert status["lastEventType"] == "customer.subscription.updated" and status["lastReceivedAt"].endswith("Z")
    assert status["webhookSecret"] == "set" and status["endpointId"] is None
    assert status["lag"]["averageSeconds"] is not None and status["lag"]["oldestUnprocessedSeconds"] >= 0
    [failure] = status["failures"]
    assert (failure["eventId"], failure["attempts"]) == (failing["id"], 1)
    assert failure["error"].startswith("stripe_unavailable:") and failure["nextAttemptAt"].endswith("Z")

    human = run("webhooks", "status", "--project", project_id)
    assert human.exit_code == 0
    for text in ("Last received:", "3 received: 0 applied, 0 unchanged, 2 ignored", "1 retrying",
                 "Oldest unprocessed:", failing["id"], "stripe_unavailable"):
        assert text in human.stdout, (text, human.stdout)
