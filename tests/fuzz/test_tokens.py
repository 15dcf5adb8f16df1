"""Property tests of the portal token decoder and validator.

Arbitrary strings, and valid tokens mutated every way an attacker might (bit flips,
truncation, extension, re-signed with another key, `alg: none`, other algorithms, claims
of the wrong type or audience): `decode_token` answers None and `validate_portal_token`
raises PortalTokenError — never another exception, and never a pass.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from billstack.db import engine_for
from billstack.services import sessions
from billstack.services.sessions.tokens import TOKEN_ALGORITHM, TOKEN_AUDIENCE, PortalTokenError, decode_token
from tests.api.conftest import make_tenant
from tests.conftest import TEST_SECRET_KEY

SHARED_FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
CLAIMS = {"sid": "portal_sess_x", "pid": "proj_x", "cid": "pc_x", "aud": TOKEN_AUDIENCE, "iat": 1, "exp": 2**40}
claim_values = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) \
    | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.{signature}"


@pytest.fixture
def issued(db_url: str) -> Iterator[tuple[Session, str]]:
    """A database with one real session, and its token."""
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        tenant = make_tenant(db, label="a")
        created = sessions.create_portal_session(db, team_id=tenant.team_id, project_id=tenant.project_id,
                                                 api_key=None, customer_id=tenant.customer_id)
        db.commit()
        yield db, created.token


def _refused(db: Session, token: str) -> None:
    assert decode_token(token) is None or token_is_ours_but_not_in_the_database(token)
    with pytest.raises(PortalTokenError):
        sessions.validate_portal_token(db, token)


def token_is_ours_but_not_in_the_database(token: str) -> bool:
    """A token we signed (only the fixtures' claims) whose session does not exist."""
    claims = decode_token(token)
    return claims is not None and claims["sid"] == CLAIMS["sid"]


# --- arbitrary input -----------------------------------------------------------------------


@given(token=st.text(max_size=300) | st.text(alphabet="abcXYZ012-_.=", max_size=300))
def test_arbitrary_strings_decode_to_nothing(token: str) -> None:
    assert decode_token(token) is None


@SHARED_FIXTURES
@given(token=st.text(max_size=300) | st.binary(max_size=100).map(lambda b: b.decode("latin-1")))
def test_arbitrary_strings_never_validate(issued: tuple[Session, str], token: str) -> None:
    db, _real = issued
    _refused(db, token)


# --- mutated valid tokens ------------------------------------------------------------------


@SHARED_FIXTURES
@given(data=st.data())
def test_a_flipped_truncated_or_extended_token_is_refused(issued: tuple[Session, str], data: st.DataObject) -> None:
    db, real = issued
    how = data.draw(st.sampled_from(["flip", "truncate", "extend", "replace"]))
    if how == "flip":
        index = data.draw(st.integers(0, len(real) - 1))
        bit = data.draw(st.integers(0, 6))
        token = real[:index] + chr(ord(real[index]) ^ (1 << bit)) + real[index + 1:]
    elif how == "truncate":
        token = real[:data.draw(st.integers(0, len(real) - 1))]
    elif how == "extend":
        token = real + data.draw(st.text(min_size=1, max_size=8))
    else:
        index = data.draw(st.integers(0, len(real) - 1))
        token = real[:index] + data.draw(st.characters()) + real[index + 1:]
    # base64url's last character may carry unused bits: a flip there can decode to the same bytes.
    assume(token != real and _decoded_bytes(token) != _decoded_bytes(real))
    _refused(db, token)


def _decoded_bytes(token: str) -> list[bytes] | None:
    try:
        return [base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split(".")]
    except (ValueError, UnicodeEncodeError):
        return None


@SHARED_FIXTURES
@given(key=st.text(min_size=64, max_size=80), algorithm=st.sampled_from(["HS256", "HS384", "HS512"]))
def test_a_token_signed_with_another_key_is_refused(issued: tuple[Session, str], key: str, algorithm: str) -> None:
    db, real = issued
    assume(key != TEST_SECRET_KEY)
    claims = jwt.decode(real, options={"verify_signature": False})
    _refused(db, jwt.encode(claims, key, algorithm=algorithm))


@SHARED_FIXTURES
@given(alg=st.sampled_from(["none", "None", "NONE", "", "HS384", "RS256", "ES256"]) | st.text(max_size=8),
       signature=st.sampled_from(["", "x"]) | st.text(alphabet="abcAB-_", max_size=40))
def test_alg_none_and_other_algorithms_are_refused(issued: tuple[Session, str], alg: str, signature: str) -> None:
    db, real = issued
    claims = jwt.decode(real, options={"verify_signature": False})
    _refused(db, _unsigned({"alg": alg, "typ": "JWT"}, claims, signature))
    # And with our own signature over the forged header (the algorithm is pinned, not read).
    if alg != TOKEN_ALGORITHM:
        header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        payload = real.split(".")[1]
        _refused(db, f"{header}.{payload}.{real.split('.')[2]}")


@SHARED_FIXTURES
@given(claim=st.sampled_from(sorted(CLAIMS)), value=claim_values, drop=st.booleans())
def test_claims_of_the_wrong_type_or_audience_are_refused_even_when_we_signed_them(
    issued: tuple[Session, str], claim: str, value: Any, drop: bool
) -> None:
    db, real = issued
    claims = jwt.decode(real, options={"verify_signature": False})
    if drop:
        del claims[claim]
    else:
        assume(value != claims[claim])
        claims[claim] = value
    forged = jwt.encode(claims, TEST_SECRET_KEY, algorithm=TOKEN_ALGORITHM)
    decoded = decode_token(forged)
    # Only a different but well-typed claim may still decode; the session row then refuses it
    # (its digest is of the token that was issued, not of this one).
    assert decoded is None or (not drop and _well_typed(claim, value))
    with pytest.raises(PortalTokenError):
        sessions.validate_portal_token(db, forged)


def _well_typed(claim: str, value: Any) -> bool:
    if claim in ("sid", "pid", "cid"):
        return isinstance(value, str) and bool(value)
    if claim == "exp":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return claim == "iat"  # not verified (nor needed): the session row holds the times that count


def test_the_real_token_validates(issued: tuple[Session, str]) -> None:
    """The control: what the properties above refuse is refused for being changed."""
    db, real = issued
    assert decode_token(real) is not None
    assert sessions.validate_portal_token(db, real).session.id
