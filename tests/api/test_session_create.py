"""POST /api/billstack/teams/{teamId}/projects/{projectId}/portal: the seed contract."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlmodel import Session, select

from billstack.db import engine_for
from billstack.errors import BillStackError
from billstack.models import ApiKey, AuditEvent, PortalSession
from billstack.secrets_box import digest
from billstack.services import sessions
from billstack.services.sessions import creation
from tests.api.conftest import Tenant, assert_error, make_tenant, mirror_subscription
from tests.conftest import TEST_SECRET_KEY

pytestmark = pytest.mark.asyncio

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


async def test_spec_example_gets_the_four_keys(client: httpx.AsyncClient, tenant: Tenant, db_url: str) -> None:
    before = datetime.now(UTC)
    # The specification's fetch() translated literally.
    response = await client.post(
        tenant.portal_path,
        headers={"Authorization": f"Bearer {tenant.api_key}", "Content-Type": "application/json"},
        json={"customerId": tenant.customer_id, "ttlMs": 3600000},
    )
    after = datetime.now(UTC)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["sessionId", "token", "portalUrl", "expiresAt"]
    assert re.fullmatch(r"portal_sess_[A-Za-z0-9]+", body["sessionId"])
    assert body["portalUrl"] == f"http://localhost:8000/portal/{body['token']}"
    assert ISO_Z.match(body["expiresAt"])
    expires = datetime.strptime(body["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before + timedelta(hours=1) - timedelta(seconds=2) <= expires <= after + timedelta(hours=1)

    claims = jwt.decode(body["token"], TEST_SECRET_KEY, algorithms=["HS256"], audience="billstack:portal")
    assert claims["sid"] == body["sessionId"]
    assert claims["pid"] == tenant.project_id
    assert claims["cid"] == tenant.customer_id
    assert claims["exp"] - claims["iat"] == 3600

    with Session(engine_for(db_url)) as db:
        row = db.get(PortalSession, body["sessionId"])
        assert row is not None
        assert row.customer_id == tenant.customer_id and row.api_key_id == tenant.api_key_id
        assert row.return_url == "https://a.example.com/account"  # the project's default
        assert row.locale == "auto" and row.flow is None  # picked at each page load


async def test_public_url_setting_shapes_portal_url(client, tenant, monkeypatch) -> None:
    from billstack.config import reset_settings

    monkeypatch.setenv("BILLSTACK_PUBLIC_URL", "https://billing.example.com/")
    reset_settings()
    response = await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
    body = response.json()
    assert body["portalUrl"] == f"https://billing.example.com/portal/{body['token']}"


@pytest.mark.parametrize("ttl_ms", [60_000, 86_400_000, 90_000])
async def test_ttl_bounds_accepted(client, tenant, ttl_ms: int) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    response = await client.post(tenant.portal_path, headers=tenant.auth,
                                 json={"customerId": tenant.customer_id, "ttlMs": ttl_ms})
    assert response.status_code == 200, response.text
    expires = datetime.strptime(response.json()["expiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((expires - start).total_seconds() - ttl_ms // 1000) <= 2


@pytest.mark.parametrize("ttl_ms", [59_999, 86_400_001, 0, -5, "soon", None, 3.5, True, [1]])
async def test_ttl_out_of_range_is_400_naming_ttlMs(client, tenant, ttl_ms) -> None:
    response = await client.post(tenant.portal_path, headers=tenant.auth,
                                 json={"customerId": tenant.customer_id, "ttlMs": ttl_ms})
    error = assert_error(response, 400, "parameter_invalid", "ttlMs")
    assert "60000" in error["message"] and "86400000" in error["message"]


async def test_missing_customer_id_is_400(client, tenant) -> None:
    assert_error(await client.post(tenant.portal_path, headers=tenant.auth, json={"ttlMs": 3600000}),
                 400, "parameter_missing", "customerId")


async def test_unknown_field_is_400_naming_it(client, tenant) -> None:
    # Stripe's snake_case name: refused rather than silently ignored.
    response = await client.post(tenant.portal_path, headers=tenant.auth,
                                 json={"customerId": tenant.customer_id, "return_url": "https://x.example"})
    assert_error(response, 400, "parameter_unknown", "return_url")


async def test_unknown_and_other_projects_customer_are_404(client, tenant, other_tenant, sibling_tenant) -> None:
    for customer_id in ("pc_doesnotexist", other_tenant.customer_id, sibling_tenant.customer_id):
        response = await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": customer_id})
        error = assert_error(response, 404, "resource_missing", "customerId")
        assert error["type"] == "invalid_request_error"
        assert other_tenant.customer_email not in response.text


async def test_removed_customer_is_404(client, tenant, db_url) -> None:
    from billstack.services.customers import remove_customer

    with Session(engine_for(db_url)) as db:
        remove_customer(db, project_id=tenant.project_id, customer_id=tenant.customer_id)
        db.commit()
    response = await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
    assert_error(response, 404, "resource_missing", "customerId")


# --- returnUrl, locale, flow -------------------------------------------------------------


async def test_return_url_is_stored(client, tenant, db_url) -> None:
    # On the default return URL's origin (https://a.example.com): the tenant lists no allowed origins.
    url = "https://a.example.com/settings/billing?from=portal"
    response = await client.post(tenant.portal_path, headers=tenant.auth,
                                 json={"customerId": tenant.customer_id, "returnUrl": url})
    assert response.status_code == 200
    with Session(engine_for(db_url)) as db:
        assert db.get(PortalSession, response.json()["sessionId"]).return_url == url


async def test_without_allowed_origins_only_the_default_return_urls_origin_is_accepted(client, tenant) -> None:
    # The tenant lists no allowed origins; its default return URL is https://a.example.com/account.
    for url in ["https://a.example.com/other", "https://A.EXAMPLE.com:443/x?y=1"]:
        response = await client.post(tenant.portal_path, headers=tenant.auth,
                                     json={"customerId": tenant.customer_id, "returnUrl": url})
        assert response.status_code == 200, (url, response.text)
    for url in ["https://myapp.com/account", "http://a.example.com/account", "https://a.example.com:8443/",
                "https://a.example.com.evil.example/"]:
        response = await client.post(tenant.portal_path, headers=tenant.auth,
                                     json={"customerId": tenant.customer_id, "returnUrl": url})
        assert_error(response, 400, "return_url_not_allowed", "returnUrl")
        assert "https://a.example.com" in response.json()["error"]["message"]


async def test_with_neither_allowed_origins_nor_a_default_any_return_url_is_accepted(client, db) -> None:
    t = make_tenant(db, label="n")  # nothing configured: nothing to hold the URL to
    response = await client.post(t.portal_path, headers=t.auth,
                                 json={"customerId": t.customer_id, "returnUrl": "https://myapp.com/account"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://myapp.com/x", "/relative/path", "https://",
                                 "https://user:pw@myapp.com/", "https://myapp.com/a b", "https://myapp.com:99999/",
                                 "data:text/html,hi", 42])
async def test_bad_return_url_is_400(client, tenant, url) -> None:
    response = await client.post(tenant.portal_path, headers=tenant.auth,
                                 json={"customerId": tenant.customer_id, "returnUrl": url})
    assert_error(response, 400, param="returnUrl")


async def test_return_url_must_match_allowed_origins_when_set(client, db_url) -> None:
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        t = make_tenant(db, label="o", allowed_return_origins="https://myapp.com http://localhost:3000")
    ok = ["https://myapp.com/account", "https://MYAPP.com:443/x?y=1", "http://localhost:3000/billing"]
    for url in ok:
        response = await client.post(t.portal_path, headers=t.auth, json={"customerId": t.customer_id, "returnUrl": url})
        assert response.status_code == 200, (url, response.text)
    bad = ["https://evil.example/account", "http://myapp.com/account", "https://myapp.com.evil.example/",
           "http://localhost:3001/", "https://evil.example/?https://myapp.com"]
    for url in bad:
        response = await client.post(t.portal_path, headers=t.auth, json={"customerId": t.customer_id, "returnUrl": url})
        assert_error(response, 400, "return_url_not_allowed", "returnUrl")


@pytest.mark.parametrize(("given", "stored"), [("de", "de"), ("de-AT", "de"), ("FR_ca", "fr-CA"), ("en", "en"),
                                               ("es", "es"), ("pt-br", "pt-BR"), ("es-MX", "es-419"), ("ar", "auto"),
                                               ("auto", "auto")])
async def test_locale_resolution(client, tenant, db_url, given, stored) -> None:
    response = await client.post(tenant.portal_path, headers=tenant.auth,
                                 json={"customerId": tenant.customer_id, "locale": given})
    assert response.status_code == 200, response.text
    with Session(engine_for(db_url)) as db:
        assert db.get(PortalSession, response.json()["sessionId"]).locale == stored


@pytest.mark.parametrize("locale", ["<script>", "e", "english-language-please-xxxxxxxxxxxxxxxxxx", "d3", 7])
async def test_malformed_locale_is_400(client, tenant, locale) -> None:
    response = await client.post(tenant.portal_path, headers=tenant.auth,
                                 json={"customerId": tenant.customer_id, "locale": locale})
    assert_error(response, 400, param="locale")


async def test_flows_are_stored(client, tenant, db_url) -> None:
    mirror_subscription(db_url, tenant, "sub_123ABC")
    flows = [{"type": "payment_method_update"}, {"type": "subscription_cancel", "subscriptionId": "sub_123ABC"}]
    for flow in flows:
        response = await client.post(tenant.portal_path, headers=tenant.auth,
                                     json={"customerId": tenant.customer_id, "flow": flow})
        assert response.status_code == 200, response.text
        with Session(engine_for(db_url)) as db:
            assert json.loads(db.get(PortalSession, response.json()["sessionId"]).flow) == flow


@pytest.mark.parametrize(("flow", "param"), [
    ({"type": "delete_everything"}, "flow.type"),
    ({}, "flow.type"),
    ({"type": "subscription_cancel"}, "flow.subscriptionId"),
    ({"type": "subscription_cancel", "subscriptionId": "in_123"}, "flow.subscriptionId"),
    ({"type": "payment_method_update", "subscriptionId": "sub_1"}, "flow.subscriptionId"),
    ("payment_method_update", "flow"),
])
async def test_bad_flow_is_400(client, tenant, flow, param) -> None:
    response = await client.post(tenant.portal_path, headers=tenant.auth,
                                 json={"customerId": tenant.customer_id, "flow": flow})
    assert_error(response, 400, param=param)


async def test_a_subscription_id_with_a_line_break_is_refused_by_the_api_and_the_service(client, tenant) -> None:
    # The API's pydantic pattern runs on pydantic-core's Rust regex, whose `$` is the end
    # of the text; the service's own check must not be laxer (Python's `$` is not).
    flow = {"type": "subscription_cancel", "subscriptionId": "sub_123\n"}
    response = await client.post(tenant.portal_path, headers=tenant.auth,
                                 json={"customerId": tenant.customer_id, "flow": flow})
    assert_error(response, 400, "parameter_invalid", "flow.subscriptionId")
    facts = sessions.ProjectFacts("proj_x", "team_x", None, "", True, True)
    with pytest.raises(BillStackError) as refused:
        sessions.check_flow(flow, facts)
    assert refused.value.param == "flow.subscriptionId"


async def test_flow_for_disabled_feature_is_400(client, db_url) -> None:
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        t = make_tenant(db, label="f", feature_cancel=False)
    response = await client.post(t.portal_path, headers=t.auth, json={
        "customerId": t.customer_id, "flow": {"type": "subscription_cancel", "subscriptionId": "sub_1"}})
    assert_error(response, 400, "feature_disabled", "flow.type")


# --- transport-level bad input: never a 500 ---------------------------------------------


async def test_wrong_content_type_is_415(client, tenant) -> None:
    body = json.dumps({"customerId": tenant.customer_id})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = await client.post(tenant.portal_path, headers={**tenant.auth, "Content-Type": content_type},
                                     content=body)
        assert_error(response, 415, "unsupported_media_type")
    response = await client.post(tenant.portal_path, headers=tenant.auth, content=body)  # no Content-Type
    assert_error(response, 415, "unsupported_media_type")


async def test_json_content_type_with_charset_is_accepted(client, tenant) -> None:
    response = await client.post(tenant.portal_path,
                                 headers={**tenant.auth, "Content-Type": "application/json; charset=utf-8"},
                                 content=json.dumps({"customerId": tenant.customer_id}))
    assert response.status_code == 200


@pytest.mark.parametrize("raw", [b"{", b"{'customerId': 1}", b"\xff\xfe", b"null x", b"{\"customerId\": }"])
async def test_invalid_json_is_400(client, tenant, raw: bytes) -> None:
    response = await client.post(tenant.portal_path, headers={**tenant.auth, "Content-Type": "application/json"},
                                 content=raw)
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize("raw", [b"[]", b"\"pc_1\"", b"42", b"null"])
async def test_json_that_is_not_an_object_is_400(client, tenant, raw: bytes) -> None:
    response = await client.post(tenant.portal_path, headers={**tenant.auth, "Content-Type": "application/json"},
                                 content=raw)
    assert_error(response, 400)


async def test_empty_body_is_400(client, tenant) -> None:
    response = await client.post(tenant.portal_path, headers={**tenant.auth, "Content-Type": "application/json"})
    assert_error(response, 400, "parameter_missing")


async def test_body_over_16_kib_is_413(client, tenant) -> None:
    big = json.dumps({"customerId": tenant.customer_id, "returnUrl": "https://a.example.com/" + "x" * 17000})
    response = await client.post(tenant.portal_path, headers={**tenant.auth, "Content-Type": "application/json"},
                                 content=big)
    assert_error(response, 413, "request_too_large")

    async def chunks():  # no Content-Length: counted while reading
        for _ in range(20):
            yield b" " * 1024

    response = await client.post(tenant.portal_path, headers={**tenant.auth, "Content-Type": "application/json"},
                                 content=chunks())
    assert_error(response, 413, "request_too_large")


async def test_body_of_exactly_16_kib_is_not_413(client, tenant) -> None:
    body = json.dumps({"customerId": tenant.customer_id})
    body = body[:-1] + " " * (16 * 1024 - len(body)) + "}"
    assert len(body) == 16 * 1024
    response = await client.post(tenant.portal_path, headers={**tenant.auth, "Content-Type": "application/json"},
                                 content=body)
    assert response.status_code == 200, response.text


async def test_unknown_api_path_and_wrong_method_use_the_error_shape(client, tenant) -> None:
    assert_error(await client.get("/api/billstack/nothing-here"), 404, "not_found")
    response = await client.get(tenant.portal_path, headers=tenant.auth)
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


async def test_unexpected_error_is_a_generic_500(client, tenant, monkeypatch, caplog) -> None:
    async def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(sessions, "create_async", explode)
    response = await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
    error = assert_error(response, 500, "internal_error")
    assert error["type"] == "api_error"
    assert "secret internal detail" not in response.text
    assert response.headers["cache-control"] == "no-store"
    assert "secret internal detail" in caplog.text  # logged server-side


# --- storage, audit, concurrency, documentation -------------------------------------------


async def test_tokens_and_api_keys_are_not_stored_in_clear(client, tenant, db_url) -> None:
    response = await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
    token = response.json()["token"]
    engine = engine_for(db_url)
    with engine.connect() as conn:
        import sqlalchemy as sa

        dump = []
        for table in sa.inspect(engine).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                dump.append(" ".join(str(v) for v in row))
    text = "\n".join(dump)
    assert token not in text and token.split(".")[2] not in text
    assert tenant.api_key not in text and tenant.api_key[4:] not in text
    with Session(engine) as db:
        assert db.get(PortalSession, response.json()["sessionId"]).token_hash == digest(token)
        assert db.get(ApiKey, tenant.api_key_id).key_hash == digest(tenant.api_key)


async def test_creation_writes_an_audit_event_and_touches_the_key(client, tenant, db_url) -> None:
    response = await client.post(tenant.portal_path, headers=tenant.auth,
                                 json={"customerId": tenant.customer_id, "ttlMs": 120000})
    session_id = response.json()["sessionId"]
    with Session(engine_for(db_url)) as db:
        events = db.exec(select(AuditEvent).where(AuditEvent.session_id == session_id)).all()
        assert len(events) == 1
        event = events[0]
        assert event.action == "portal_session.created"
        assert (event.project_id, event.customer_id, event.api_key_id) == (
            tenant.project_id, tenant.customer_id, tenant.api_key_id)
        assert event.client_ip == "203.0.113.7"
        assert event.created_at is not None
        assert json.loads(event.detail)["ttlMs"] == 120000
        assert response.json()["token"] not in (event.detail or "")
        assert db.get(ApiKey, tenant.api_key_id).last_used_at is not None


async def test_200_parallel_creations_all_succeed(client, tenant, db_url) -> None:
    async def one():
        return await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})

    responses = await asyncio.gather(*(one() for _ in range(200)))
    assert [r.status_code for r in responses] == [200] * 200, {r.text for r in responses if r.status_code != 200}
    bodies = [r.json() for r in responses]
    assert len({b["sessionId"] for b in bodies}) == 200
    assert len({b["token"] for b in bodies}) == 200
    with Session(engine_for(db_url)) as db:
        assert len(db.exec(select(PortalSession.id)).all()) == 200
        assert len(db.exec(select(AuditEvent.id).where(AuditEvent.action == "portal_session.created")).all()) == 200


async def test_openapi_documents_the_models(client) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    operation = spec["paths"]["/api/billstack/teams/{teamId}/projects/{projectId}/portal"]["post"]
    schemas = spec["components"]["schemas"]
    request = schemas["CreatePortalSessionRequest"]
    # Exactly one way to name the customer (issue 14): the seed's customerId, or the SaaS's own id, or the cus_.
    assert "required" not in request
    assert request["oneOf"] == [{"required": ["customerId"]}, {"required": ["externalId"]},
                                {"required": ["stripeCustomerId"]}]
    assert set(request["properties"]) == {"customerId", "externalId", "stripeCustomerId", "ttlMs", "returnUrl",
                                          "locale", "flow"}
    assert request["properties"]["ttlMs"]["minimum"] == 60000 and request["properties"]["ttlMs"]["maximum"] == 86400000
    assert set(schemas["PortalSessionCreated"]["properties"]) == {"sessionId", "token", "portalUrl", "expiresAt"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/PortalSessionCreated")
    assert {"400", "401", "403", "404", "413", "415", "429"} <= set(operation["responses"])
    assert "422" not in operation["responses"]
    assert "Unknown fields are refused" in operation["description"]
    assert spec["components"]["securitySchemes"]["ProjectApiKey"]["scheme"] == "bearer"
    assert "/api/billstack/teams/{teamId}/projects/{projectId}/portal/{sessionId}" in spec["paths"]
    for path in ("/docs", "/redoc"):
        assert (await client.get(path)).status_code == 404


async def test_openapi_documents_409_413_and_415_where_they_are_answered(client) -> None:
    spec = (await client.get("/api/openapi.json")).json()
    error_ref = "#/components/schemas/ErrorResponse"

    def documented(path: str, method: str, status: str) -> bool:
        response = spec["paths"][path][method]["responses"].get(status)
        return response is not None and response["content"]["application/json"]["schema"]["$ref"] == error_ref

    # Every JSON body route: its size limit (413) and media type (415), with its own limit.
    body_routes = [(path, method) for path, operations in spec["paths"].items() for method in operations
                   if method in ("post", "put", "patch")]
    # The session API, the portal API's ten (cancel/plan PATCH, preview, setup-intent and its completion,
    # customer details, tax ids, default card, pause, promotion code, retention offer), webhooks,
    # customers' POST and PATCH.
    assert len(body_routes) == 14
    for path, method in body_routes:
        assert documented(path, method, "413") and documented(path, method, "415"), (path, method)
    webhook = "/api/billstack/webhooks/stripe/{projectId}"
    assert "1048576 bytes" in spec["paths"][webhook]["post"]["responses"]["413"]["description"]
    portal = "/api/portal/{token}"
    assert "16384 bytes" in spec["paths"][f"{portal}/setup-intent"]["post"]["responses"]["413"]["description"]
    # Routes without a body have neither.
    for path, method in [(portal, "get"), ("/api/billstack/teams/{teamId}/projects/{projectId}/portal/{sessionId}",
                                           "delete")]:
        assert not {"413", "415"} & set(spec["paths"][path][method]["responses"]), (path, method)
    # Conflicts: the portal's Stripe writes (idempotency; removing the card a live subscription is
    # charged to, issue 16) and a customer's externalId (issue 14), nothing else.
    customers = "/api/billstack/teams/{teamId}/projects/{projectId}/customers"
    conflicts = {(f"{portal}/subscriptions/{{subscriptionId}}", "patch"), (f"{portal}/setup-intent", "post"),
                 (f"{portal}/subscriptions/{{subscriptionId}}/scheduled-change", "delete"),
                 (f"{portal}/setup-intent/complete", "post"), (customers, "post"),
                 (f"{customers}/{{customerId}}", "patch"), (f"{portal}/customer", "patch"),
                 (f"{portal}/tax-ids", "post"),
                 (f"{portal}/payment-methods/{{paymentMethodId}}/default", "post"),
                 (f"{portal}/payment-methods/{{paymentMethodId}}", "delete"),
                 # Issue 20's Stripe writes on a subscription.
                 (f"{portal}/subscriptions/{{subscriptionId}}/pause", "post"),
                 (f"{portal}/subscriptions/{{subscriptionId}}/pause", "delete"),
                 (f"{portal}/subscriptions/{{subscriptionId}}/promotion-code", "post"),
                 (f"{portal}/subscriptions/{{subscriptionId}}/retention", "post")}
    for path, operations in spec["paths"].items():
        for method in operations:
            assert documented(path, method, "409") == ((path, method) in conflicts), (path, method)


async def test_session_api_responses_carry_security_headers(client, tenant) -> None:
    ok = await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
    denied = await client.post(tenant.portal_path, json={"customerId": tenant.customer_id})
    too_big = await client.post(tenant.portal_path, headers={**tenant.auth, "Content-Type": "application/json"},
                                content=b" " * 20000)
    spec = await client.get("/api/openapi.json")
    for response in (ok, denied, too_big, spec):
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


async def test_a_locked_sqlite_database_is_waited_for_off_the_event_loop(client, tenant, db_url, monkeypatch) -> None:
    """The route runs its unit of work on the event loop; when another writer holds
    SQLite's lock it must not block the loop but wait in a worker thread."""
    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite's database-wide write lock; PostgreSQL locks rows")
    import sqlite3
    import threading

    original = creation.create_committed
    calls: list[bool] = []
    waiting_in_thread = threading.Event()

    def spy(request: sessions.SessionRequest, *, wait: bool = True):
        calls.append(wait)
        if wait:
            waiting_in_thread.set()
        return original(request, wait=wait)

    monkeypatch.setattr(creation, "create_committed", spy)
    holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    request = asyncio.ensure_future(
        client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id}))
    # The loop stays free while the request waits: this await completes first.
    assert await asyncio.to_thread(waiting_in_thread.wait, 10)
    assert not request.done()
    holder.execute("COMMIT")
    holder.close()
    response = await request
    assert response.status_code == 200, response.text
    assert calls == [True]  # the loop's attempt found the lock taken; the thread waited


async def test_requests_arriving_together_keep_their_own_answers(client, tenant, other_tenant, db_url) -> None:
    """Creations that share a transaction (SQLite group commit) still succeed or fail alone."""
    good = {"customerId": tenant.customer_id}
    cases = [
        (tenant.auth, good, 200),
        (tenant.auth, {"customerId": "pc_missing"}, 404),
        ({"Authorization": "Bearer bsk_unknown"}, good, 401),
        (other_tenant.auth, good, 403),
        (tenant.auth, {**good, "returnUrl": "ftp://x"}, 400),
    ] * 8
    responses = await asyncio.gather(*(client.post(tenant.portal_path, headers=h, json=b) for h, b, _ in cases))
    assert [r.status_code for r in responses] == [status for _, _, status in cases]
    created = {r.json()["sessionId"] for r in responses if r.status_code == 200}
    with Session(engine_for(db_url)) as db:
        assert set(db.exec(select(PortalSession.id)).all()) == created
        audited = db.exec(select(AuditEvent.session_id).where(AuditEvent.action == "portal_session.created")).all()
        assert set(audited) == created and len(audited) == 8
