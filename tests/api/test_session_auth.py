"""API-key authentication, authorization and the per-key rate limit of the session API."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from billstack.config import reset_settings
from billstack.db import engine_for
from billstack.models import ApiKey
from billstack.services.tenants import create_api_key, revoke_api_key
from tests.api.conftest import Tenant, assert_error

pytestmark = pytest.mark.asyncio


def assert_401(response, code: str) -> None:
    error = assert_error(response, 401, code)
    assert error["type"] == "authentication_error"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_missing_authorization_is_401(client, tenant: Tenant) -> None:
    response = await client.post(tenant.portal_path, json={"customerId": tenant.customer_id})
    assert_401(response, "api_key_missing")


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic dXNlcjpwdw==", "bsk_abc", "Bearer a b", "Token x"])
async def test_malformed_authorization_is_401(client, tenant: Tenant, header: str) -> None:
    response = await client.post(tenant.portal_path, headers={"Authorization": header},
                                 json={"customerId": tenant.customer_id})
    assert_401(response, "api_key_malformed")


async def test_bearer_scheme_is_case_insensitive(client, tenant: Tenant) -> None:
    response = await client.post(tenant.portal_path, headers={"Authorization": f"bearer {tenant.api_key}"},
                                 json={"customerId": tenant.customer_id})
    assert response.status_code == 200


@pytest.mark.parametrize("key", ["bsk_" + "A" * 43, "sk_test_123456789", "x" * 300, "bsk_" + "A" * 300])
async def test_unknown_key_is_401(client, tenant: Tenant, key: str) -> None:
    response = await client.post(tenant.portal_path, headers={"Authorization": f"Bearer {key}"},
                                 json={"customerId": tenant.customer_id})
    assert_401(response, "invalid_api_key")


async def test_revoked_key_is_401(client, tenant: Tenant, db_url: str) -> None:
    with Session(engine_for(db_url)) as db:
        revoke_api_key(db, tenant.api_key_id)
        db.commit()
    response = await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
    assert_401(response, "api_key_revoked")


async def test_key_of_another_project_or_team_is_403(client, tenant, sibling_tenant, other_tenant) -> None:
    for intruder in (sibling_tenant, other_tenant):
        response = await client.post(tenant.portal_path, headers=intruder.auth,
                                     json={"customerId": tenant.customer_id})
        error = assert_error(response, 403, "permission_denied")
        assert error["type"] == "permission_error"
        assert tenant.customer_email not in response.text
    # Right project, wrong team in the URL.
    path = f"/api/billstack/teams/{other_tenant.team_id}/projects/{tenant.project_id}/portal"
    assert_error(await client.post(path, headers=tenant.auth, json={"customerId": tenant.customer_id}), 403)
    # Unknown project: the key is valid, just not for it.
    path = f"/api/billstack/teams/{tenant.team_id}/projects/proj_nope/portal"
    assert_error(await client.post(path, headers=tenant.auth, json={"customerId": tenant.customer_id}), 403)


async def test_authentication_comes_before_body_validation(client, tenant) -> None:
    response = await client.post(tenant.portal_path, json={"ttlMs": 5})
    assert_401(response, "api_key_missing")


async def test_second_key_of_the_same_project_works(client, tenant, db_url) -> None:
    with Session(engine_for(db_url)) as db:
        _, plaintext = create_api_key(db, project_id=tenant.project_id)
        db.commit()
    response = await client.post(tenant.portal_path, headers={"Authorization": f"Bearer {plaintext}"},
                                 json={"customerId": tenant.customer_id})
    assert response.status_code == 200


async def test_last_used_is_written_at_most_once_a_minute(client, tenant, db_url) -> None:
    await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
    with Session(engine_for(db_url)) as db:
        first = db.get(ApiKey, tenant.api_key_id).last_used_at
    assert first is not None
    with Session(engine_for(db_url)) as db:  # pretend the write happened long ago …
        from datetime import timedelta

        key = db.get(ApiKey, tenant.api_key_id)
        key.last_used_at = first - timedelta(seconds=30)
        db.add(key)
        db.commit()
    await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
    with Session(engine_for(db_url)) as db:  # … 30 s is within the resolution: not rewritten
        assert db.get(ApiKey, tenant.api_key_id).last_used_at == first - timedelta(seconds=30)


async def test_session_creation_is_rate_limited_per_key(client, tenant, sibling_tenant, monkeypatch) -> None:
    monkeypatch.setenv("BILLSTACK_RATE_LIMIT_SESSIONS_PER_MINUTE", "3")
    reset_settings()
    for _ in range(3):
        ok = await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
        assert ok.status_code == 200
    limited = await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id})
    error = assert_error(limited, 429, "rate_limited")
    assert error["type"] == "rate_limit_error"
    assert 1 <= int(limited.headers["retry-after"]) <= 20  # 3/min: one token every 20 s
    # Another key has its own budget.
    other = await client.post(sibling_tenant.portal_path, headers=sibling_tenant.auth,
                              json={"customerId": sibling_tenant.customer_id})
    assert other.status_code == 200
