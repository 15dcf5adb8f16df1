"""Property tests of the two endpoints whose bodies the OpenAPI document cannot describe for
schemathesis: Stripe webhooks (raw bytes under a signature) and Stripe's
`POST /v1/billing_portal/sessions` (a form in Stripe's bracket notation, Stripe's API).

- Webhooks: any body, signed with the project's real secret (or not): 200, or a 400 in the
  error shape (`webhook_signature_invalid` only when the signature is not ours, or the body
  not UTF-8 as Stripe's always is), never a 500.
- Stripe-compatible: any form, with the project's key: a `billing_portal.session`, or an
  error in Stripe's envelope with one of Stripe's statuses, never a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import select
from starlette.testclient import TestClient

from api_routes import create_api
from api_routes.fast_paths import FastPaths
from billstack import routes
from billstack.db import session_scope
from billstack.models import Project
from billstack.secrets_box import unseal
from billstack.services import tenants
from billstack.services.webhooks.endpoints import register_endpoint
from billstack.services.webhooks.events import HANDLED_EVENTS
from tests.fuzz.test_session_body import json_values
from tests.portal_world import World, build_world

SHARED_FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@dataclass
class Served:
    world: World
    client: TestClient
    api_key: str
    webhook_secret: str


@pytest.fixture
def served(db_url: str, emulator_url: str) -> Iterator[Served]:
    world = build_world(emulator_url, feature_plan_change=True)
    with session_scope() as db:
        _key, api_key = tenants.create_api_key(db, project_id=world.project_id)
        register_endpoint(db, world.project_id, "https://billstack.test/webhooks")
    with session_scope() as db:
        sealed = db.exec(select(Project.webhook_secret_sealed).where(Project.id == world.project_id)).one()
    with TestClient(FastPaths(create_api()), raise_server_exceptions=False) as client:
        yield Served(world, client, api_key, unseal(sealed or ""))


def _assert_error_shape(body: dict) -> dict:
    assert set(body) == {"error"}, body
    assert {"type", "code", "message"} <= set(body["error"]) <= {"type", "code", "message", "param"}, body
    return body["error"]


# --- webhooks ------------------------------------------------------------------------------


def _mostly(valid: st.SearchStrategy[object], odd: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """`valid` four times in five: enough events get through for the recording to be fuzzed too."""
    return st.integers(0, 4).flatmap(lambda pick: odd if pick == 0 else valid)


def _events(customer: str) -> st.SearchStrategy[object]:
    objects = st.fixed_dictionaries(
        {"id": _mostly(st.sampled_from(["cus_x", "sub_x", "in_x", "pm_x", "txi_x"]), st.text(max_size=300) | json_values)},
        optional={"object": st.text(max_size=20) | json_values, "customer": _mostly(st.just(customer), json_values),
                  "deleted": st.booleans() | json_values, "status": st.text(max_size=10) | json_values},
    )
    ids = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=30).map("evt_".__add__)
    return st.fixed_dictionaries(
        {"id": _mostly(ids, st.text(max_size=300) | json_values),
         "object": _mostly(st.just("event"), json_values),
         "type": _mostly(st.sampled_from(HANDLED_EVENTS), st.text(max_size=300) | json_values),
         "created": _mostly(st.integers(0, 2**40), st.integers() | json_values),
         "data": _mostly(st.fixed_dictionaries({"object": objects},
                                               optional={"previous_attributes": objects | json_values}), json_values)},
        optional={"livemode": json_values, "api_version": json_values},
    )


def _signature(payload: bytes, secret: str) -> str:
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@SHARED_FIXTURES
@given(data=st.data(), signed=st.sampled_from([True, True, True, False]))
def test_any_webhook_body_is_recorded_or_refused_with_a_400(served: Served, data: st.DataObject, signed: bool) -> None:
    value = data.draw(_events(served.world.alice.stripe_customer_id) | st.nothing(), label="event") \
        if data.draw(st.integers(0, 9), label="shape") else data.draw(json_values, label="event")
    payload = data.draw(st.just(json.dumps(value).encode()) | st.binary(max_size=64), label="payload") \
        if data.draw(st.integers(0, 9), label="raw") == 0 else json.dumps(value).encode()
    headers = {"Content-Type": "application/json"}
    if signed:
        headers["Stripe-Signature"] = _signature(payload, served.webhook_secret)
    response = served.client.post(routes.stripe_webhook_path(served.world.project_id), content=payload,
                                  headers=headers)
    event(f"status {response.status_code}")
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert set(response.json()) == {"received", "duplicate"}
    else:
        error = _assert_error_shape(response.json())
        # Stripe signs UTF-8 text: a body that is not is refused at the signature check, signed or not.
        assert (error["code"] == "webhook_signature_invalid") == (not signed or not _is_utf8(payload)), error


def _is_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- Stripe's billing_portal.sessions ------------------------------------------------------

FORM_KEYS = ["customer", "return_url", "locale", "configuration", "on_behalf_of", "flow_data[type]",
             "flow_data[subscription_cancel][subscription]", "flow_data[subscription_update][subscription]",
             "flow_data[subscription_update_confirm][subscription]",
             "flow_data[subscription_update_confirm][items][0][price]",
             "flow_data[subscription_update_confirm][items][0][quantity]",
             "flow_data[subscription_update_confirm][items][0][id]", "flow_data", "flow_data[]", "customer[x]",
             "expand[]", "metadata[a]"]
STRIPE_STATUSES = {200, 400, 401, 403, 413, 429}


@SHARED_FIXTURES
@given(data=st.data(), authorised=st.sampled_from([True, True, True, False]))
def test_any_form_gets_a_session_or_an_error_in_stripes_envelope(
    served: Served, data: st.DataObject, authorised: bool
) -> None:
    world = served.world
    values = st.sampled_from([world.alice.stripe_customer_id, world.alice.customer_id, "cus_missing",
                              *world.alice.seeded["subscriptions"], "payment_method_update", "subscription_cancel",
                              "subscription_update_confirm", "auto", "de", "https://[::1/", "1", ""]) | st.text()
    fields = data.draw(st.lists(st.tuples(st.sampled_from(FORM_KEYS) | st.text(max_size=12), values), max_size=6))
    body = data.draw(st.just(urlencode(fields).encode()) | st.binary(max_size=40), label="body")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if authorised:
        headers["Authorization"] = f"Bearer {served.api_key}"
    response = served.client.post(routes.STRIPE_PORTAL_SESSIONS_PATH, content=body, headers=headers)
    event(f"status {response.status_code}")
    assert response.status_code in STRIPE_STATUSES, response.text
    assert response.headers["content-type"].startswith("application/json")
    if response.status_code == 200:
        assert response.json()["object"] == "billing_portal.session"
    else:
        assert isinstance(_assert_error_shape(response.json())["message"], str)
