"""An `ApiKey` object handed to session creation (the demo, operator tooling) is checked
again in the creation's own query: a key revoked since it was loaded, or passed in
revoked, is refused like a revoked key string (401 api_key_revoked)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from billstack.db import engine_for, session_scope
from billstack.errors import BillStackError
from billstack.models import ApiKey, PortalSession
from billstack.services import sessions
from billstack.services.tenants import create_api_key, revoke_api_key
from tests.api.conftest import Tenant


def _load_key(db_url: str, key_id: str) -> ApiKey:
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        return db.get(ApiKey, key_id)


def _create(tenant: Tenant, key: ApiKey, how: str) -> sessions.CreatedSession:
    fields = {"team_id": tenant.team_id, "project_id": tenant.project_id, "api_key": key,
              "customer_id": tenant.customer_id}
    if how == "committed":
        return sessions.create_committed(sessions.SessionRequest(**fields))
    with session_scope() as db:
        return sessions.create_portal_session(db, **fields)


def _sessions_of(db_url: str, tenant: Tenant) -> list[PortalSession]:
    with Session(engine_for(db_url)) as db:
        return list(db.exec(select(PortalSession).where(PortalSession.project_id == tenant.project_id)))


@pytest.mark.parametrize("how", ["in_callers_transaction", "committed"])
def test_a_revoked_api_key_object_is_refused(tenant: Tenant, db_url: str, how: str) -> None:
    stale = _load_key(db_url, tenant.api_key_id)  # loaded while the key was still valid
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        revoked = revoke_api_key(db, tenant.api_key_id)
        db.commit()
    assert stale.revoked_at is None and revoked.revoked_at is not None
    for key in (stale, revoked):
        with pytest.raises(BillStackError) as refused:
            _create(tenant, key, how)
        assert (refused.value.status, refused.value.code) == (401, "api_key_revoked")
    assert _sessions_of(db_url, tenant) == []


@pytest.mark.asyncio
async def test_a_revoked_api_key_object_is_refused_on_the_event_loop(tenant: Tenant, db_url: str) -> None:
    stale = _load_key(db_url, tenant.api_key_id)
    with Session(engine_for(db_url)) as db:
        revoke_api_key(db, tenant.api_key_id)
        db.commit()
    with pytest.raises(BillStackError) as refused:
        await sessions.create_async(sessions.SessionRequest(team_id=tenant.team_id, project_id=tenant.project_id,
                                                            api_key=stale, customer_id=tenant.customer_id))
    assert (refused.value.status, refused.value.code) == (401, "api_key_revoked")


@pytest.mark.parametrize("how", ["in_callers_transaction", "committed"])
def test_a_valid_api_key_object_still_creates_and_is_recorded(tenant: Tenant, db_url: str, how: str) -> None:
    created = _create(tenant, _load_key(db_url, tenant.api_key_id), how)
    (stored,) = _sessions_of(db_url, tenant)
    assert stored.id == created.session_id and stored.api_key_id == tenant.api_key_id


def test_an_api_key_object_of_another_project_is_403(tenant: Tenant, sibling_tenant: Tenant, db_url) -> None:
    foreign = _load_key(db_url, sibling_tenant.api_key_id)
    with pytest.raises(BillStackError) as refused:
        _create(tenant, foreign, "committed")
    assert refused.value.status == 403


def test_an_api_key_object_whose_row_is_gone_is_401(tenant: Tenant, db_url: str) -> None:
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        key, _plaintext = create_api_key(db, project_id=tenant.project_id)
        db.rollback()  # never stored
    with pytest.raises(BillStackError) as refused:
        _create(tenant, key, "committed")
    assert (refused.value.status, refused.value.code) == (401, "invalid_api_key")
