"""A key this process has seen pass creates on PostgreSQL in one statement, whose writes
hold only if the key's, project's and customer's row is still the one the checks passed
on (storage.insert_if_unchanged). Whatever changed since, the answer is the one a fresh
SELECT would give: every case here first creates once (the key is seen), then changes
the row and creates again. On SQLite the same answers come from its SELECT."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, func, select

from billstack.clock import utcnow
from billstack.config import reset_settings
from billstack.db import engine_for
from billstack.errors import BillStackError
from billstack.models import Customer, PortalSession, Project
from billstack.services import sessions
from billstack.services.tenants import revoke_api_key
from tests.api.conftest import Tenant


def _request(tenant: Tenant, **fields: Any) -> sessions.SessionRequest:
    base = {"team_id": tenant.team_id, "project_id": tenant.project_id, "api_key": tenant.api_key,
            "customer_id": tenant.customer_id}
    return sessions.SessionRequest(**{**base, **fields})


def _sessions_of(db_url: str, tenant: Tenant) -> int:
    with Session(engine_for(db_url)) as db:
        return db.exec(select(func.count()).select_from(PortalSession)
                       .where(PortalSession.project_id == tenant.project_id)).one()


def _refused(db_url: str, tenant: Tenant, request: sessions.SessionRequest) -> BillStackError:
    before = _sessions_of(db_url, tenant)
    with pytest.raises(BillStackError) as refused:
        sessions.create_committed(request)
    assert _sessions_of(db_url, tenant) == before  # nothing written
    return refused.value


def _change_project(db_url: str, tenant: Tenant, **values: Any) -> None:
    with Session(engine_for(db_url)) as db:
        project = db.get(Project, tenant.project_id)
        for name, value in values.items():
            setattr(project, name, value)
        db.add(project)
        db.commit()


@pytest.fixture
def seen(tenant: Tenant) -> Tenant:
    sessions.create_committed(_request(tenant))
    return tenant


def test_a_key_revoked_since_is_401(seen: Tenant, db_url: str) -> None:
    with Session(engine_for(db_url)) as db:
        revoke_api_key(db, seen.api_key_id)
        db.commit()
    error = _refused(db_url, seen, _request(seen))
    assert (error.status, error.code) == (401, "api_key_revoked")
    # … before a field's 400, as ever
    error = _refused(db_url, seen, _request(seen, ttl_ms=5))
    assert (error.status, error.code) == (401, "api_key_revoked")


def test_a_customer_removed_since_is_404(seen: Tenant, db_url: str) -> None:
    with Session(engine_for(db_url)) as db:
        customer = db.get(Customer, seen.customer_id)
        customer.removed_at = utcnow()
        db.add(customer)
        db.commit()
    error = _refused(db_url, seen, _request(seen))
    assert (error.status, error.param) == (404, "customerId")


def test_an_unknown_or_another_projects_customer_is_404(seen: Tenant, sibling_tenant: Tenant, db_url: str) -> None:
    for customer_id in ("pc_nobody", sibling_tenant.customer_id):
        error = _refused(db_url, seen, _request(seen, customer_id=customer_id))
        assert (error.status, error.param) == (404, "customerId")


def test_another_project_of_the_team_is_403(seen: Tenant, sibling_tenant: Tenant, db_url: str) -> None:
    error = _refused(db_url, seen, _request(seen, project_id=sibling_tenant.project_id,
                                            customer_id=sibling_tenant.customer_id))
    assert error.status == 403


def test_a_default_return_url_changed_since_is_the_one_used(seen: Tenant, db_url: str) -> None:
    _change_project(db_url, seen, default_return_url="https://a.example.com/new-home")
    created = sessions.create_committed(_request(seen))
    assert created.session.return_url == "https://a.example.com/new-home"
    with Session(engine_for(db_url)) as db:
        assert db.get(PortalSession, created.session_id).return_url == "https://a.example.com/new-home"


def test_a_feature_turned_off_since_is_400(seen: Tenant, db_url: str) -> None:
    _change_project(db_url, seen, feature_payment_method_update=False)
    error = _refused(db_url, seen, _request(seen, flow={"type": "payment_method_update"}))
    assert (error.status, error.code) == (400, "feature_disabled")


def test_a_return_origin_dropped_since_is_400(seen: Tenant, db_url: str) -> None:
    _change_project(db_url, seen, allowed_return_origins="https://other.example.com")
    error = _refused(db_url, seen, _request(seen, return_url="https://a.example.com/back"))
    assert (error.status, error.code) == (400, "return_url_not_allowed")


def test_the_rate_limit_still_counts_each_creation_once(tenant: Tenant, db_url: str, monkeypatch) -> None:
    monkeypatch.setenv("BILLSTACK_RATE_LIMIT_SESSIONS_PER_MINUTE", "3")
    reset_settings()
    for _ in range(3):
        sessions.create_committed(_request(tenant))
    error = _refused(db_url, tenant, _request(tenant))
    assert (error.status, error.code) == (429, "rate_limited")
