"""The session API's fast path (api_routes/fast_paths.py) answers exactly as the framework route.

Every other test in tests/api goes through the fast path (the `api` fixture); here each
request is sent both ways — to `create_api()` alone (FastAPI route and middlewares) and
to `FastPaths(create_api())` as `billstack serve` runs it — and the answers compared:
status, body (errors byte for byte; sessions by shape), and every header (in any order).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from api_routes import create_api
from api_routes.fast_paths import SESSION_CREATE_PATH, FastPaths
from api_routes.request_log import RequestLog
from billstack import routes
from billstack.services import ratelimit, sessions
from tests.api.conftest import Tenant, assert_error

pytestmark = pytest.mark.asyncio

Request = Callable[[Tenant], dict]

# Each case: what to send (httpx.request keyword arguments, built from the tenant).
ERROR_CASES: dict[str, Request] = {
    "no key": lambda t: {"json": {"customerId": t.customer_id}},
    "malformed key": lambda t: {"headers": {"Authorization": "Basic abc"}, "json": {"customerId": t.customer_id}},
    "unknown key": lambda t: {"headers": {"Authorization": "Bearer bsk_nope"}, "json": {"customerId": t.customer_id}},
    "unknown customer": lambda t: {"headers": t.auth, "json": {"customerId": "pc_missing"}},
    "ttl out of range": lambda t: {"headers": t.auth, "json": {"customerId": t.customer_id, "ttlMs": 5}},
    "unknown field": lambda t: {"headers": t.auth, "json": {"customerId": t.customer_id, "ttl_ms": 60000}},
    "bad flow": lambda t: {"headers": t.auth, "json": {"customerId": t.customer_id, "flow": {"type": "x"}}},
    "invalid json": lambda t: {"headers": {**t.auth, "Content-Type": "application/json"}, "content": b"{"},
    "empty body": lambda t: {"headers": t.auth},
    "not an object": lambda t: {"headers": {**t.auth, "Content-Type": "application/json"}, "content": b"[1]"},
    "wrong content type": lambda t: {"headers": {**t.auth, "Content-Type": "text/plain"}, "content": b"customerId"},
    "too large": lambda t: {"headers": t.auth, "json": {"customerId": t.customer_id, "locale": "x" * 17000}},
}


@asynccontextmanager
async def clients() -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    api = create_api()
    # The framework side gets FastPaths' request-id layer too; one X-Request-ID makes the echo equal.
    transports = (httpx.ASGITransport(app=RequestLog(api, access_log_on=False), client=("203.0.113.7", 40000)),
                  httpx.ASGITransport(app=FastPaths(api), client=("203.0.113.7", 40000)))
    same_id = {"X-Request-ID": "fast-path-comparison"}
    async with (httpx.AsyncClient(transport=transports[0], base_url="http://billstack.test", headers=same_id) as framework,
                httpx.AsyncClient(transport=transports[1], base_url="http://billstack.test", headers=same_id) as fast):
        yield framework, fast


@pytest.mark.parametrize("case", list(ERROR_CASES))
async def test_errors_are_answered_identically(tenant: Tenant, case: str) -> None:
    async with clients() as (framework, fast):
        sent = ERROR_CASES[case](tenant)
        expected = await framework.post(tenant.portal_path, **sent)
        answered = await fast.post(tenant.portal_path, **sent)
    assert expected.status_code >= 400  # the case is an error through the framework too
    assert answered.status_code == expected.status_code
    assert answered.content == expected.content
    assert sorted(answered.headers.multi_items()) == sorted(expected.headers.multi_items())
    assert_error(answered, expected.status_code)


# Values a lax parser would take: a number in a string, a whole float, a boolean (JSON
# `true` is no integer), and a language tag followed by a line break.
NOT_QUITE_VALID = [
    ("ttlMs", "60000"),
    ("ttlMs", 60000.0),
    ("ttlMs", True),
    ("locale", "de\n"),
    ("locale", "de\r"),
    ("locale", "de-AT\n"),
]


@pytest.mark.parametrize(("param", "value"), NOT_QUITE_VALID)
async def test_not_quite_valid_values_are_400_naming_the_field_both_ways(tenant: Tenant, param: str, value) -> None:
    sent = {"headers": tenant.auth, "json": {"customerId": tenant.customer_id, param: value}}
    async with clients() as (framework, fast):
        for client in (framework, fast):
            assert_error(await client.post(tenant.portal_path, **sent), 400, "parameter_invalid", param)


async def test_the_strict_checks_still_take_valid_values_both_ways(tenant: Tenant) -> None:
    sent = {"headers": tenant.auth, "json": {"customerId": tenant.customer_id, "ttlMs": 60000, "locale": "de-AT"}}
    async with clients() as (framework, fast):
        for client in (framework, fast):
            assert (await client.post(tenant.portal_path, **sent)).status_code == 200


async def test_another_projects_key_and_rate_limit_are_answered_identically(
    tenant: Tenant, other_tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with clients() as (framework, fast):
        sent = {"headers": other_tenant.auth, "json": {"customerId": tenant.customer_id}}
        expected = await framework.post(tenant.portal_path, **sent)
        answered = await fast.post(tenant.portal_path, **sent)
        assert expected.status_code == answered.status_code == 403
        assert answered.content == expected.content

        monkeypatch.setenv("BILLSTACK_RATE_LIMIT_SESSIONS_PER_MINUTE", "1")
        from billstack.config import reset_settings

        reset_settings()
        ratelimit.reset_all()
        sent = {"headers": tenant.auth, "json": {"customerId": tenant.customer_id}}
        assert (await framework.post(tenant.portal_path, **sent)).status_code == 200
        expected = await framework.post(tenant.portal_path, **sent)
        answered = await fast.post(tenant.portal_path, **sent)
    assert expected.status_code == answered.status_code == 429
    assert answered.content == expected.content
    assert sorted(answered.headers.multi_items()) == sorted(expected.headers.multi_items())  # Retry-After included


async def test_success_has_the_same_shape_and_headers(tenant: Tenant) -> None:
    sent = {"headers": tenant.auth, "json": {"customerId": tenant.customer_id, "ttlMs": 60000, "locale": "de"}}
    async with clients() as (framework, fast):
        expected = await framework.post(tenant.portal_path, **sent)
        answered = await fast.post(tenant.portal_path, **sent)
    assert expected.status_code == answered.status_code == 200
    assert list(answered.json()) == list(expected.json()) == ["sessionId", "token", "portalUrl", "expiresAt"]
    assert answered.json()["sessionId"] != expected.json()["sessionId"]  # two real sessions
    names = sorted(name for name, _ in expected.headers.multi_items() if name != "content-length")
    assert sorted(name for name, _ in answered.headers.multi_items() if name != "content-length") == names
    for name in names:
        assert answered.headers[name] == expected.headers[name]
    assert int(answered.headers["content-length"]) == len(answered.content)


async def test_unexpected_error_is_the_same_generic_500(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(request: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(sessions, "create_async", explode)
    sent = {"headers": tenant.auth, "json": {"customerId": tenant.customer_id}}
    async with clients() as (framework, fast):
        expected = await framework.post(tenant.portal_path, **sent)
        caplog.clear()
        answered = await fast.post(tenant.portal_path, **sent)
    assert expected.status_code == answered.status_code == 500
    assert answered.content == expected.content
    assert sorted(answered.headers.multi_items()) == sorted(expected.headers.multi_items())
    assert "secret internal detail" not in answered.text
    assert "secret internal detail" in caplog.text  # logged, with its traceback, server-side


async def test_session_creation_never_reaches_the_framework(tenant: Tenant) -> None:
    """What the fast path is for: the framework stack is not entered for `POST …/portal`."""
    entered: list[str] = []

    async def framework(scope: dict, receive: object, send: object) -> None:
        entered.append(scope["path"])
        raise AssertionError("the framework stack was entered")

    transport = httpx.ASGITransport(app=FastPaths(framework), client=("203.0.113.7", 40000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://billstack.test") as fast:
        created = await fast.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
        refused = await fast.post(tenant.portal_path, json={"customerId": tenant.customer_id})
    assert created.status_code == 200 and created.json()["sessionId"].startswith("portal_sess_")
    assert_error(refused, 401, "api_key_missing")
    assert entered == []


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("DELETE", ""), ("POST", "/"), ("POST", "/extra"), ("PUT", "")],
)
async def test_anything_else_is_left_to_the_framework(tenant: Tenant, method: str, suffix: str) -> None:
    """Only `POST …/portal` exactly is taken; other methods and paths get the framework's answer."""
    path = tenant.portal_path + suffix
    assert (SESSION_CREATE_PATH.fullmatch(path) is not None) == (suffix == "")
    sent = {"headers": tenant.auth, "json": {"customerId": tenant.customer_id}}
    async with clients() as (framework, fast):
        expected = await framework.request(method, path, **sent)
        answered = await fast.request(method, path, **sent)
    assert answered.status_code == expected.status_code
    assert answered.content == expected.content
    if method != "POST":
        assert answered.status_code in (404, 405)


async def test_the_fast_path_is_the_routes_own_path() -> None:
    """Derived from routes.PORTAL_SESSIONS_PATH (the framework route's path), not written again."""
    match = SESSION_CREATE_PATH.fullmatch(routes.portal_sessions_path("team_1", "proj_2"))
    assert match is not None and match.groupdict() == {"teamId": "team_1", "projectId": "proj_2"}
    for other in ("/api/billstack/teams//projects/p/portal", "/api/billstack/teams/t/projects/p/portal/x",
                  "/api/billstack/teams/t/projects/p/portals"):
        assert SESSION_CREATE_PATH.fullmatch(other) is None


async def test_websockets_and_lifespan_pass_through() -> None:
    seen: list[str] = []

    async def inner(scope: dict, receive: object, send: object) -> None:
        seen.append(scope["type"])

    front = FastPaths(inner)  # type: ignore[arg-type]
    for scope_type in ("websocket", "lifespan"):
        await front({"type": scope_type, "path": "/api/billstack/teams/t/projects/p/portal"}, None, None)
    assert seen == ["websocket", "lifespan"]


async def test_a_client_that_leaves_before_its_body_gets_no_answer(tenant: Tenant) -> None:
    sent_messages: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent_messages.append(message)

    scope = {"type": "http", "method": "POST", "path": tenant.portal_path, "root_path": "",
             "headers": [(b"authorization", f"Bearer {tenant.api_key}".encode()),
                         (b"content-type", b"application/json"), (b"content-length", b"30")],
             "client": ("203.0.113.7", 40000)}
    await FastPaths(create_api())(scope, receive, send)
    assert sent_messages == []
