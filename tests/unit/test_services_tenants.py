"""Tenant services the CLI stands on: validation, normalisation and the audit trail."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from billstack import config
from billstack.errors import BillStackError, api_param
from billstack.models import AuditEvent
from billstack.services import audit, sessions, tenants

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
    assert error.value.param == "frameAncestors"


def test_return_origins_are_normalised_and_deduplicated(db: Session, project_id: str) -> None:
    project = tenants.update_project(
        db, project_id, allowed_return_origins=["https://app.test/", "https://app.test", "http://localhost:3000"]
    )
    assert tenants.allowed_return_origins(project) == ["https://app.test", "http://localhost:3000"]


def test_return_origins_are_stored_in_the_form_sessions_compare(db: Session, project_id: str) -> None:
    origins = ["HTTPS://App.Example.com:443/", "http://Example.com:80", "https://[2001:DB8::1]:8443", "http://127.0.0.1:3000"]
    project = tenants.update_project(db, project_id, allowed_return_origins=origins)
    assert tenants.allowed_return_origins(project) == [
        "https://app.example.com", "http://example.com", "https://[2001:db8::1]:8443", "http://127.0.0.1:3000",
    ]
    assert sessions.check_return_url("https://APP.example.com/account", project) == "https://APP.example.com/account"


def test_origins_saved_before_the_strict_rule_are_still_compared_alike(db: Session, project_id: str) -> None:
    project = tenants.get_project(db, project_id)
    project.allowed_return_origins = "https://App.Example.com:443"  # as the old, laxer check stored it
    assert sessions.check_return_url("https://app.example.com/x", project) == "https://app.example.com/x"
    with pytest.raises(BillStackError) as refused:
        sessions.check_return_url("https://other.example.com/x", project)
    assert refused.value.code == "return_url_not_allowed"


@pytest.mark.parametrize("origin", [
    "https://user@app.example.com", "https://*.example.com", "https://app.example.com:99999", "https://app.example.com:0",
    "https://app.example.com:http", "https://app.example.com/path", "https://app.example.com?", "https://app.example.com#",
    "ws://app.example.com", "https://", "https://app.example.com.", "https://-app.example.com", "https://127.1",
    "https://[fe80::1%25eth0]", "https://app.example.com\\@evil.example", "https://app.example.com\t:8443",
])
def test_return_origins_refuse_anything_but_scheme_host_and_port(db: Session, project_id: str, origin: str) -> None:
    with pytest.raises(BillStackError) as refused:
        tenants.update_project(db, project_id, allowed_return_origins=[origin])
    assert refused.value.param == "allowedReturnOrigins"
    assert refused.value.message.startswith("allowedReturnOrigins must be an origin such as https://app.example.com")


@pytest.mark.parametrize("url", [
    "https://cdn.example.com/logo.png", "https://CDN.Example.com:8443/a/logo.svg?v=2", "https://93.184.215.14/logo.png",
    "https://[2606:4700::1111]/logo.png", "https://cdn.test/logo.png",
])
def test_logo_urls_on_public_https_hosts_are_accepted(db: Session, project_id: str, url: str) -> None:
    assert tenants.update_project(db, project_id, logo_url=url).logo_url == url


@pytest.mark.parametrize("url", [
    "http://cdn.example.com/logo.png", "https://user:pw@cdn.example.com/logo.png", "https://localhost/logo.png",
    "https://cdn.localhost/logo.png", "https://printer.local/logo.png", "https://cdn.internal/logo.png",
    "https://nas.home.arpa/logo.png", "https://intranet/logo.png", "https://127.0.0.1/logo.png",
    "https://[::1]/logo.png", "https://[::ffff:127.0.0.1]/logo.png", "https://[::ffff:a9fe:a9fe]/logo.png",
    "https://[2002:7f00:1::]/logo.png", "https://169.254.169.254/latest/meta-data", "https://[fe80::1]/logo.png",
    "https://10.1.2.3/logo.png", "https://172.16.0.1/logo.png", "https://192.168.0.10/logo.png",
    "https://100.64.0.1/logo.png", "https://[fd00::1]/logo.png", "https://0.0.0.0/logo.png", "https://[::]/logo.png",
    "https://224.0.0.251/logo.png", "https://[ff02::1]/logo.png", "https://240.0.0.1/logo.png",
    "https://255.255.255.255/logo.png", "https://192.0.2.1/logo.png", "https://0x7f.1/logo.png",
])
def test_logo_urls_must_be_https_on_a_public_host(db: Session, project_id: str, url: str) -> None:
    with pytest.raises(BillStackError) as refused:
        tenants.update_project(db, project_id, logo_url=url)
    assert refused.value.param == "logoUrl"
    assert refused.value.message.startswith("logoUrl must be a public https URL")


@pytest.mark.parametrize("field", ["support_url", "terms_url", "privacy_url", "default_return_url"])
@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "ftp://example.com/x", "https://user:pw@example.com/x", "https://*.example.com/x",
    "https://example.com/a b", "https://example.com/\x00", "https://example.com/\u0085x", "https://example.com:65536/x",
])
def test_link_urls_are_plain_http_urls(db: Session, project_id: str, field: str, url: str) -> None:
    with pytest.raises(BillStackError) as refused:
        tenants.update_project(db, project_id, **{field: url})
    assert refused.value.param == api_param(field) and refused.value.message.startswith(f"{api_param(field)} must be an http(s) URL")


@pytest.mark.parametrize("email", [
    "<script>@example.com", "Help <help@example.com>", "\"help\"@example.com", "o'brien@example.com", "a b@example.com",
    "a@b@example.com", "help@localhost", "help@example.com.", "help@-example.com", "help@example.1",
    ".help@example.com", "he..lp@example.com", "help@example.com\nBcc: x@example.com",
])
def test_support_email_is_a_plain_address(db: Session, project_id: str, email: str) -> None:
    with pytest.raises(BillStackError) as refused:
        tenants.update_project(db, project_id, support_email=email)
    assert refused.value.message.startswith("supportEmail must be an email address such as support@example.com")


def test_ordinary_support_emails_are_accepted(db: Session, project_id: str) -> None:
    for email in ("support@example.com", "billing+portal@mail.example.co.uk", "first.last@xn--bcher-kva.de"):
        assert tenants.update_project(db, project_id, support_email=email).support_email == email


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


def test_operator_audit_rows_take_the_one_shape_audit_owns(db: Session, project_id: str) -> None:
    """tenants.record_audit is audit.record_action: ids fill their columns, the rest is compact detail."""
    assert tenants.record_audit is audit.record_action
    tenants.record_audit(db, "test.action", project_id=project_id, customer_id="pc_1", fields=["b", "a"])
    db.commit()
    event = db.exec(select(AuditEvent).where(AuditEvent.action == "test.action")).one()
    assert (event.project_id, event.customer_id, event.session_id) == (project_id, "pc_1", None)
    assert event.detail == '{"fields":["b","a"]}' and event.created_at is not None


def test_the_audit_row_names_every_column_of_the_table() -> None:
    """A column added to AuditEvent must be added to audit.COLUMNS/row(), which the ORM
    write and the raw-SQL fast path of session creation both use."""
    table_columns = {column.name for column in AuditEvent.__table__.columns} - {"id"}
    assert set(audit.COLUMNS) == table_columns
    assert set(audit.row("x.y", project_id="proj_1")) == table_columns
    assert audit.row("x.y", project_id=None, client_ip="1" * 100)["client_ip"] == "1" * 64
    assert audit.detail_text({"k": "v" * 5000}) == '{"truncated": true, "keys": ["k"]}'
    assert all(f":{column}" in audit.INSERT_SQL for column in table_columns)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("HTTPS://App.Example.com:443/x?y#z", "https://app.example.com"),
        ("http://[2001:DB8::1]:8080/", "http://[2001:db8::1]:8080"),
        ("http://example.com:80", "http://example.com"),
        ("https://example.com:99999", "https://example.com"),  # stored before the strict check: port left out
    ],
)
def test_one_origin_normaliser_for_stored_origins_and_the_browsers(url: str, origin: str) -> None:
    assert tenants.normalised_origin(url) == origin
    if not url.endswith("99999"):
        assert config.origin_of(url) == origin


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://localhost:8000/api/billstack/webhooks/stripe/proj_1", "localhost"),
        ("https://app.localhost/hook", "app.localhost"),
        ("https://billing.local/hook", "billing.local"),
        ("https://gw.home.arpa/hook", "gw.home.arpa"),
        ("https://svc.internal/hook", "svc.internal"),
        ("https://intranet/hook", "intranet"),
        ("http://127.0.0.1:8000/hook", "127.0.0.1"),
        ("https://10.1.2.3/hook", "10.1.2.3"),
        ("https://192.168.0.10/hook", "192.168.0.10"),
        ("https://[::1]/hook", "::1"),
        ("https://[fd00::5]/hook", "fd00::5"),
        ("https://billing.example.com/hook", None),
        ("https://93.184.215.14/hook", None),
    ],
)
def test_private_host_of_names_hosts_the_internet_cannot_reach(url: str, host: str | None) -> None:
    assert tenants.private_host_of(url) == host
