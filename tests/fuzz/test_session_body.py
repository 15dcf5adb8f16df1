"""Property tests of session creation's input handling: the body parser, the field checks,
and the fast path against the framework route.

Whatever the body (any JSON value, any bytes, any content type), `POST …/portal` answers
200 or one of its documented 4xx in the error shape, never a 500 and never a traceback;
and the fast path (`FastPaths`, what `billstack serve` runs) answers exactly as the
framework route (`create_api()` alone) does, status, error and headers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import Session
from starlette.testclient import TestClient

from api_routes import create_api
from api_routes.deps import parse_body
from api_routes.fast_paths import FastPaths
from api_routes.portal_sessions import CreatePortalSessionRequest
from billstack.config import reset_settings
from billstack.db import engine_for
from billstack.errors import BillStackError
from billstack.i18n import AUTO_LOCALE
from billstack.services import sessions
from billstack.services.sessions.request import ProjectFacts, check_flow, check_return_url, check_ttl_ms, resolve_locale
from tests.api.conftest import Tenant, make_tenant

DOCUMENTED = {200, 400, 401, 403, 404, 413, 415, 429}
FIELDS = ("customerId", "externalId", "stripeCustomerId", "ttlMs", "returnUrl", "locale", "flow")
SHARED_FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
flows = st.fixed_dictionaries(
    {"type": st.sampled_from([*sessions.FLOW_TYPES, "x", ""]) | json_values},
    optional={"subscriptionId": st.sampled_from(["sub_1", "sub_x\n", "cus_1"]) | json_values,
              "priceId": st.sampled_from(["price_1", "price_"]) | json_values,
              "quantity": st.integers() | json_values},
)
# Bodies that look like session requests (known fields, valid or odd values) and bodies that do not.
session_bodies = st.fixed_dictionaries({"customerId": st.text(max_size=70) | json_values}, optional={
    "externalId": st.text(max_size=210) | json_values,
    "stripeCustomerId": st.text(max_size=10) | json_values,
    "ttlMs": st.integers(sessions.TTL_MIN_MS, sessions.TTL_MAX_MS) | st.integers() | st.floats() | json_values,
    "returnUrl": st.sampled_from(["https://a.example.com/x", "javascript:alert(1)", "https://a.example.com:99999/",
                                  "http://user@a.example.com/", "https://evil.example/", "https://[::1/"])
    | st.text(max_size=30),
    "locale": st.sampled_from(["de-AT", "zz", "en\n", "auto", ""]) | st.text(max_size=40) | json_values,
    "flow": st.just({"type": "payment_method_update"}) | flows | json_values,
}) | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), json_values, max_size=5)
json_bodies = (session_bodies | json_values).map(lambda v: json.dumps(v).encode())
raw_bodies = json_bodies | st.binary(max_size=64) | st.just(b"") | st.text(max_size=40).map(str.encode)
content_types = st.just("application/json") | st.sampled_from([
    "application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.x+json",
    "text/plain", "application/x-www-form-urlencoded", "", None,
])


@pytest.fixture
def both(db_url: str, emulator_url: str) -> Iterator[tuple[Tenant, TestClient, TestClient]]:
    """A tenant (its Stripe: the emulator, where an unknown `cus_…` is looked up), and the API
    behind the fast path and without it."""
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        tenant = make_tenant(db, label="a", default_return_url="https://a.example.com/account",
                             stripe_api_base=emulator_url)
    fast, framework = FastPaths(create_api()), create_api()
    with TestClient(fast, raise_server_exceptions=False) as fast_client, \
            TestClient(framework, raise_server_exceptions=False) as framework_client:
        yield tenant, fast_client, framework_client
    reset_settings()


def _substitute(body: bytes, tenant: Tenant, pick: int) -> bytes:
    """Most bodies that name a customer name the tenant's own (so valid ones get a 200)."""
    try:
        value = json.loads(body)
    except ValueError:
        return body
    if isinstance(value, dict) and "customerId" in value and pick % 3:
        value["customerId"] = tenant.customer_id
        return json.dumps(value).encode()
    return body


def _assert_documented(response: Any) -> dict:
    assert response.status_code in DOCUMENTED, response.text
    assert "Traceback" not in response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    if response.status_code == 200:
        assert set(body) == {"sessionId", "token", "portalUrl", "expiresAt"}
    else:
        assert set(body) == {"error"}
        assert {"type", "code", "message"} <= set(body["error"]) <= {"type", "code", "message", "param"}
    return body


@SHARED_FIXTURES
@given(body=raw_bodies, content_type=content_types, pick=st.integers(0, 99), authorised=st.sampled_from([True, True, True, False]))
def test_any_body_gets_a_documented_answer_and_the_fast_path_agrees(
    both: tuple[Tenant, TestClient, TestClient], body: bytes, content_type: str | None, pick: int, authorised: bool,
) -> None:
    tenant, fast, framework = both
    body = _substitute(body, tenant, pick)
    headers = {**(tenant.auth if authorised else {})}
    if content_type is not None:
        headers["Content-Type"] = content_type
    answers = [client.post(tenant.portal_path, content=body, headers=headers) for client in (fast, framework)]
    fast_body, framework_body = (_assert_documented(answer) for answer in answers)
    assert answers[0].status_code == answers[1].status_code, (answers[0].text, answers[1].text)
    event(f"status {answers[0].status_code}")
    if answers[0].status_code == 200:
        assert set(fast_body) == set(framework_body)
    else:
        assert fast_body == framework_body
    assert {k for k in answers[0].headers if k not in ("date", "x-request-id")} == \
        {k for k in answers[1].headers if k not in ("date", "x-request-id")}


@given(body=raw_bodies)
def test_the_body_parser_returns_a_request_or_a_400(body: bytes) -> None:
    try:
        parsed = parse_body(CreatePortalSessionRequest, body)
    except BillStackError as error:
        assert error.status == 400 and error.code in ("invalid_json", "parameter_missing", "parameter_invalid",
                                                       "parameter_unknown"), error
        if error.code == "parameter_unknown":  # names the field the client sent, whatever it is
            assert error.param, error
        else:
            assert error.param is None or error.param.split(".")[0] in FIELDS, error.param
    else:
        assert isinstance(parsed, CreatePortalSessionRequest)


PROJECT = ProjectFacts(id="proj_1", team_id="team_1", default_return_url="https://a.example.com/account",
                       allowed_return_origins="", feature_cancel=True, feature_payment_method_update=True,
                       feature_plan_change=True)


def _checked(check: Any, *args: Any) -> Any:
    """The check's value, or None after a 400 naming a request field; anything else fails."""
    try:
        return check(*args)
    except BillStackError as error:
        assert error.status == 400 and (error.param or "").split(".")[0] in FIELDS, error
        return None


@given(ttl=json_values | st.integers())
def test_ttl_check(ttl: Any) -> None:
    value = _checked(check_ttl_ms, ttl)
    assert value is None or sessions.TTL_MIN_MS <= value <= sessions.TTL_MAX_MS


@given(url=st.text() | st.sampled_from(["https://a.example.com/x", "https://a.example.com:0/", "http://[::1/"]))
def test_return_url_check(url: str) -> None:
    value = _checked(check_return_url, url, PROJECT)
    assert value is None or value == url


@given(locale=st.text(max_size=50) | json_values)
def test_locale_check(locale: Any) -> None:
    value = _checked(resolve_locale, locale)
    assert value is None or value in (AUTO_LOCALE, *sessions.SUPPORTED_LOCALES)


@given(flow=flows | json_values)
def test_flow_check(flow: Any) -> None:
    value = _checked(check_flow, flow, PROJECT)
    assert value is None or json.loads(value)["type"] in sessions.FLOW_TYPES
