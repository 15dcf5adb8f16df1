"""Tenant services the CLI stands on: validation, normalisation and the audit trail."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from billstack.errors import BillStackError
from billstack.models import AuditEvent
from billstack.services import tenants

KEY = "sk_test_serviceTESTkey12345678"


@pytest.fixture
def project_id(db: Session) -> str:
    team = tenants.create_team(db, name="Acme")
    project = tenants.create_project(db, team_id=team.id, name="Shop", stripe_secret_key=KEY)
    db.commit()
    return project.id


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("'none'", "'none'"),
        ("'self'", "'self'"),
        ("  'self'   https://app.example.com  ", "'self' https://app.example.com"),
        ("https://*.example.com:443 app.example.com https:", "https://*.example.com:443 app.example.com https:"),
    ],
)
def test_frame_ancestors_accepts_csp_sources(db: Session, project_id: str, value: str, stored: str) -> None:
    assert tenants.update_project(db, project_id, frame_ancestors=value).frame_ancestors == stored


@pytest.mark.parametrize(
    "value",
    ["", "'none' 'self'", "'self'; script-src *", "'self'\r\nSet-Cookie: x=1", "javascript:alert(1)", "'unsafe-inline'"],
)
def test_frame_ancestors_rejects_anything_that_could_bend_the_header(db: Session, project_id: str, value: str) -> None:
    with pytest.raises(BillStackError) as error:
        tenants.update_project(db, project_id, frame_ancestors=value)
    assert error.value.param == "frame_ancestors"


def test_return_origins_are_normalised_and_deduplicated(db: Session, project_id: str) -> None:
    project = tenants.update_project(
        db, project_id, allowed_return_origins=["https://app.test/", "https://app.test", "http://localhost:3000"]
    )
    assert tenants.allowed_return_origins(project) == ["https://app.test", "http://localhost:3000"]


def test_optional_texts_clear_with_empty_strings(db: Session, project_id: str) -> None:
    tenants.update_project(db, project_id, logo_url="https://cdn.test/logo.png", stripe_api_base="http://127.0.0.1:1")
    project = tenants.update_project(db, project_id, logo_url="", stripe_api_base="")
    assert project.logo_url is None and project.stripe_api_base is None


@pytest.mark.parametrize(
    ("key", "mode"), [(KEY, "test"), ("sk_live_abcdefghijkl", "live"), ("rk_live_abcdefghijkl", "live")]
)
def test_stripe_mode_comes_from_the_key(db: Session, project_id: str, key: str, mode: str) -> None:
    assert tenants.stripe_mode(tenants.update_project(db, project_id, stripe_secret_key=key)) == mode


def test_operator_actions_are_audited_without_secrets(db: Session, project_id: str) -> None:
    api_key, plaintext = tenants.create_api_key(db, project_id=project_id)
    tenants.revoke_api_key(db, api_key.id)
    tenants.revoke_api_key(db, api_key.id)  # a no-op is not audited twice
    tenants.update_project(
        db, project_id, stripe_secret_key="sk_live_rotatedKEY123456", webhook_secret="whsec_rotatedSECRET123", accent_color="#000000"
    )
    db.commit()
    events = db.exec(select(AuditEvent).where(AuditEvent.project_id == project_id).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["project.created", "api_key.created", "api_key.revoked", "project.updated"]
    assert events[1].api_key_id == events[2].api_key_id == api_key.id
    assert json.loads(events[3].detail) == {"fields": ["accent_color", "stripe_secret_key", "webhook_secret"]}
    everything = " ".join(f"{e.detail} {e.api_key_id}" for e in events)
    assert plaintext not in everything and "rotatedKEY" not in everything and "rotatedSECRET" not in everything
