"""Portal tokens: forging, stretching and reusing them all fail; rotation keeps links working.

The validator is exercised directly (it is the one function every REST route and Reflex
event calls) and through a minimal route wired with the real error handling, to show
what a client sees: a 401 in the error shape with nothing about the customer.
"""

from __future__ import annotations

import base64
import json
import re
import warnings
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
import pytest_asyncio
from fastapi import FastAPI, Request
from sqlmodel import Session, select

from api_routes.errors import install_error_handling
from billstack.client_info import PortalClient
from billstack.config import reset_settings
from billstack.db import engine_for, session_scope
from billstack.errors import BillStackError
from billstack.models import AuditEvent, PortalSession
from billstack.services import sessions
from billstack.services.customers import remove_customer
from billstack.services.sessions import PortalTokenError, create_portal_session, validate_portal_token
from tests.api.conftest import Tenant, assert_error, mirror_subscription
from tests.conftest import TEST_SECRET_KEY

T0 = datetime(2026, 3, 30, 12, 0, 0, tzinfo=UTC)


def mint(tenant: Tenant, *, now: datetime = T0, ttl_ms: int = 3_600_000, **kwargs) -> sessions.CreatedSession:
    with session_scope() as db:
        return create_portal_session(db, team_id=tenant.team_id, project_id=tenant.project_id, api_key=None,
                                     customer_id=tenant.customer_id, ttl_ms=ttl_ms, now=now, **kwargs)


def validate(token: str, **kwargs) -> sessions.PortalContext:
    kwargs.setdefault("now", T0 + timedelta(minutes=1))
    with session_scope() as db:
        return validate_portal_token(db, token, **kwargs)


def rejected(token: str, code: str, tenant: Tenant, **kwargs) -> PortalTokenError:
    with pytest.raises(PortalTokenError) as caught:
        validate(token, **kwargs)
    error = caught.value
    assert error.code == code and error.status == 401 and error.type == "authentication_error"
    shown = json.dumps(error.to_dict()) + str(error)
    for secret in (tenant.customer_id, tenant.customer_email, tenant.customer_name, tenant.stripe_customer_id):
        assert secret not in shown
    return error


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def unb64(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# --- the happy path ----------------------------------------------------------------------


def test_valid_token_gives_the_session_project_and_customer(tenant: Tenant, db_url: str) -> None:
    mirror_subscription(db_url, tenant, "sub_42")
    created = mint(tenant, locale="de", return_url="https://a.example.com/back",
                   flow={"type": "subscription_cancel", "subscriptionId": "sub_42"})
    ctx = validate(created.token)
    assert ctx.session.id == created.session.id == ctx.session_id
    assert ctx.project.id == tenant.project_id
    assert ctx.customer.id == tenant.customer_id and ctx.customer.email == tenant.customer_email
    assert ctx.locale == "de" and ctx.return_url == "https://a.example.com/back"
    assert ctx.flow == {"type": "subscription_cancel", "subscriptionId": "sub_42"}
    assert ctx.expires_at == T0 + timedelta(hours=1)


def test_fast_encoder_matches_pyjwt_byte_for_byte() -> None:
    claims = {"sid": "portal_sess_x", "pid": "proj_y", "cid": "pc_z", "aud": "billstack:portal", "iat": 1, "exp": 61}
    for key in (TEST_SECRET_KEY, "another-secret-key-" + "q" * 40):
        assert sessions.encode_token(claims, key) == jwt.encode(claims, key, algorithm="HS256")


def test_session_ids_look_like_other_ids() -> None:
    made = {sessions.new_session_id() for _ in range(2000)}
    assert len(made) == 2000
    assert all(re.fullmatch(r"portal_sess_[A-Za-z0-9]{20}", i) for i in made)


def test_session_ids_sort_by_creation_time_and_stay_random_within_a_millisecond() -> None:
    """Time first (so the primary-key index grows at its end), then 11 random characters."""
    moments_ms = [0, 35, 36, 1_764_000_000_000, 1_764_000_000_001, 1_764_000_060_000, 36**9 - 1]
    ids = [sessions.new_session_id(ms) for ms in moments_ms]
    assert ids == sorted(ids)  # code-point order
    assert ids == sorted(ids, key=str.lower)  # and case-insensitive order (collations such as en_US)
    same_ms = {sessions.new_session_id(1_764_000_000_000) for _ in range(1000)}
    assert len(same_ms) == 1000
    assert len({i[: len("portal_sess_") + 9] for i in same_ms}) == 1  # one time prefix, 1,000 random tails


# --- attacks -----------------------------------------------------------------------------


def test_edited_payload_is_invalid(tenant: Tenant, other_tenant: Tenant) -> None:
    token = mint(tenant).token
    header, payload, signature = token.split(".")
    claims = unb64(payload)
    for edit in ({"cid": other_tenant.customer_id}, {"pid": other_tenant.project_id},
                 {"exp": claims["exp"] + 86_400}, {"sid": "portal_sess_other"}):
        forged = ".".join((header, b64({**claims, **edit}), signature))
        rejected(forged, "token_invalid", tenant)
        rejected(forged, "token_invalid", other_tenant)


def test_edited_signature_is_invalid(tenant: Tenant) -> None:
    token = mint(tenant).token
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for forged in (f"{header}.{payload}.{flipped}", f"{header}.{payload}.", f"{header}.{payload}",
                   token + "x", token[:-2]):
        rejected(forged, "token_invalid", tenant)


def test_alg_none_is_invalid(tenant: Tenant) -> None:
    claims = unb64(mint(tenant).token.split(".")[1])
    for alg in ("none", "None", "NONE"):
        forged = f"{b64({'alg': alg, 'typ': 'JWT'})}.{b64(claims)}."
        rejected(forged, "token_invalid", tenant)


def test_other_key_or_algorithm_is_invalid(tenant: Tenant) -> None:
    claims = unb64(mint(tenant).token.split(".")[1])
    rejected(jwt.encode(claims, "another-secret-key-" + "y" * 40, algorithm="HS256"), "token_invalid", tenant)
    # Right key, but not the pinned algorithm.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        hs512 = jwt.encode(claims, TEST_SECRET_KEY, algorithm="HS512")
    rejected(hs512, "token_invalid", tenant)


def test_signed_token_not_issued_for_the_session_is_invalid(tenant: Tenant) -> None:
    """Even with the secret key, a token whose digest was never stored does not open a session."""
    token = mint(tenant).token
    claims = unb64(token.split(".")[1])
    twin = jwt.encode({**claims, "iat": claims["iat"] + 1}, TEST_SECRET_KEY, algorithm="HS256")
    rejected(twin, "token_invalid", tenant)
    no_audience = {k: v for k, v in claims.items() if k != "aud"}
    rejected(jwt.encode(no_audience, TEST_SECRET_KEY, algorithm="HS256"), "token_invalid", tenant)


@pytest.mark.parametrize("garbage", ["", "x", "a.b.c", "..", "é.é.é", "ey" * 2000, "portal_sess_123"])
def test_garbage_is_invalid(tenant: Tenant, garbage: str) -> None:
    rejected(garbage, "token_invalid", tenant)


def test_expired_token_with_injected_clock(tenant: Tenant) -> None:
    created = mint(tenant, ttl_ms=60_000)
    assert validate(created.token, now=T0 + timedelta(seconds=59)).session.id == created.session.id
    for later in (T0 + timedelta(seconds=60), T0 + timedelta(days=3)):
        error = rejected(created.token, "token_expired", tenant, now=later)
        assert error.return_url == "https://a.example.com/account"  # where "Return to the app" goes


def test_revoked_token(tenant: Tenant) -> None:
    created = mint(tenant)
    with session_scope() as db:
        sessions.revoke_portal_session(db, created.session.id, actor="test")
    error = rejected(created.token, "token_revoked", tenant)
    assert error.project_id == tenant.project_id


def test_token_replayed_against_another_project(tenant: Tenant, other_tenant: Tenant) -> None:
    token = mint(tenant).token
    rejected(token, "token_invalid", tenant, project_id=other_tenant.project_id)
    assert validate(token, project_id=tenant.project_id).project.id == tenant.project_id


def test_removed_customer_stops_the_session(tenant: Tenant) -> None:
    token = mint(tenant).token
    with session_scope() as db:
        remove_customer(db, project_id=tenant.project_id, customer_id=tenant.customer_id)
    rejected(token, "token_revoked", tenant)


def test_session_row_gone_is_invalid(tenant: Tenant, db_url: str) -> None:
    created = mint(tenant)
    with Session(engine_for(db_url)) as db:
        db.delete(db.get(PortalSession, created.session.id))
        db.commit()
    rejected(created.token, "token_invalid", tenant)


# --- key rotation ------------------------------------------------------------------------


def test_previous_key_still_verifies_and_unknown_keys_do_not(tenant: Tenant, monkeypatch) -> None:
    old = mint(tenant).token
    monkeypatch.setenv("BILLSTACK_SECRET_KEY", "rotated-secret-key-" + "z" * 40)
    monkeypatch.setenv("BILLSTACK_SECRET_KEY_PREVIOUS", TEST_SECRET_KEY)
    reset_settings()
    assert validate(old).customer.id == tenant.customer_id
    new = mint(tenant).token
    jwt.decode(new, "rotated-secret-key-" + "z" * 40, algorithms=["HS256"], audience="billstack:portal",
               options={"verify_exp": False})  # signed with the new current key
    assert validate(new).customer.id == tenant.customer_id

    monkeypatch.delenv("BILLSTACK_SECRET_KEY_PREVIOUS")  # rotation finished: old links die
    reset_settings()
    rejected(old, "token_invalid", tenant)
    assert validate(new).customer.id == tenant.customer_id


def test_a_token_is_verified_once_per_key_set_and_each_caller_gets_its_own_claims(tenant: Tenant, monkeypatch) -> None:
    """Every event of an open page validates its token again; the signature check runs once."""
    token = mint(tenant).token
    verified = []
    real_decode = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: verified.append(a[0]) or real_decode(*a, **k))
    first = sessions.decode_token(token)
    first["cid"] = "tampered by a caller"
    second = sessions.decode_token(token)
    assert verified == [token] and second["cid"] == tenant.customer_id
    assert sessions.decode_token(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) is None  # checked on its own


# --- failed validations are rate limited per client IP -----------------------------------


def test_failed_validations_are_rate_limited_per_ip(tenant: Tenant, monkeypatch) -> None:
    monkeypatch.setenv("BILLSTACK_RATE_LIMIT_TOKEN_FAILURES_PER_MINUTE", "3")
    reset_settings()
    good = mint(tenant).token
    for _ in range(3):
        rejected("garbage", "token_invalid", tenant, client=PortalClient(ip="198.51.100.1"))
    with pytest.raises(BillStackError) as caught:  # budget used up: a failure is now a 429
        validate("garbage", client=PortalClient(ip="198.51.100.1"))
    assert caught.value.status == 429 and 1 <= int(caught.value.headers["Retry-After"]) <= 20
    with pytest.raises(BillStackError) as caught:  # a forgery too, however it fails
        validate(good[:-2] + ("AA" if not good.endswith("AA") else "BB"), client=PortalClient(ip="198.51.100.1"))
    assert caught.value.status == 429
    # A valid link still opens from that address: an office behind NAT shares one IP.
    assert validate(good, client=PortalClient(ip="198.51.100.1")).customer.id == tenant.customer_id
    assert validate(good, client=PortalClient(ip="198.51.100.2")).customer.id == tenant.customer_id
    for _ in range(5):  # successes do not count
        validate(good, client=PortalClient(ip="198.51.100.3"))
    assert validate(good).customer.id == tenant.customer_id  # no client IP (internal caller): not limited


# --- what a client sees over HTTP --------------------------------------------------------


@pytest_asyncio.fixture
async def probe(db_url: str):
    """A route that validates like the portal API does, behind the real error handling."""
    app = FastAPI()
    install_error_handling(app)

    @app.get("/api/probe/{token}")
    def show(token: str, request: Request) -> dict:
        with session_scope() as db:
            ctx = validate_portal_token(db, token, client=PortalClient(ip=request.client.host))
        return {"email": ctx.customer.email}

    transport = httpx.ASGITransport(app=app, client=("192.0.2.9", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://billstack.test") as http:
        yield http


@pytest.mark.asyncio
async def test_over_http_failures_are_401_without_customer_data(probe, tenant: Tenant, monkeypatch) -> None:
    monkeypatch.setenv("BILLSTACK_RATE_LIMIT_TOKEN_FAILURES_PER_MINUTE", "4")
    reset_settings()
    good = mint(tenant, now=datetime.now(UTC)).token
    assert (await probe.get(f"/api/probe/{good}")).json() == {"email": tenant.customer_email}

    expired = mint(tenant, now=datetime.now(UTC) - timedelta(hours=2)).token
    revoked = mint(tenant, now=datetime.now(UTC))
    with session_scope() as db:
        sessions.revoke_portal_session(db, revoked.session.id)
    header, payload, signature = good.split(".")
    for token, code in ((f"{header}.{payload}.{signature[::-1]}", "token_invalid"),
                        (expired, "token_expired"), (revoked.token, "token_revoked"), ("nope", "token_invalid")):
        response = await probe.get(f"/api/probe/{token}")
        assert_error(response, 401, code)
        for secret in (tenant.customer_id, tenant.customer_email, tenant.customer_name, tenant.stripe_customer_id):
            assert secret not in response.text
    response = await probe.get("/api/probe/nope")
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) >= 1
    # The address is over its failure budget, yet a valid link still opens from it.
    assert (await probe.get(f"/api/probe/{good}")).json() == {"email": tenant.customer_email}


# --- revocation --------------------------------------------------------------------------


def test_revoke_is_idempotent_and_audited_once(tenant: Tenant, db_url: str) -> None:
    created = mint(tenant)
    with session_scope() as db:
        first = sessions.revoke_portal_session(db, created.session.id, api_key_id="key_x", client_ip="192.0.2.1",
                                               now=T0 + timedelta(minutes=5))
    with session_scope() as db:
        again = sessions.revoke_portal_session(db, created.session.id, now=T0 + timedelta(minutes=9))
    assert first.revoked_at == again.revoked_at == T0 + timedelta(minutes=5)
    with Session(engine_for(db_url)) as db:
        events = db.exec(select(AuditEvent).where(AuditEvent.action == "portal_session.revoked")).all()
        assert [(e.session_id, e.customer_id, e.project_id, e.api_key_id, e.client_ip) for e in events] == [
            (created.session.id, tenant.customer_id, tenant.project_id, "key_x", "192.0.2.1")]


def test_revoke_unknown_or_other_projects_session_is_404(tenant: Tenant, other_tenant: Tenant) -> None:
    created = mint(tenant)
    for session_id, project_id in (("portal_sess_nope", None), (created.session.id, other_tenant.project_id)):
        with pytest.raises(BillStackError) as caught, session_scope() as db:
            sessions.revoke_portal_session(db, session_id, project_id=project_id)
        assert caught.value.status == 404 and caught.value.code == "resource_missing"
    assert validate(created.token).session.revoked_at is None
