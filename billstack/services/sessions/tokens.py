"""Portal tokens and session ids: minting, signing and reading them (no database access).

A portal token is a JWT (HS256, `alg` pinned) signed with BILLSTACK_SECRET_KEY and
carrying the session id (`sid`), project id (`pid`), BillStack customer id (`cid`), an
audience (`aud`, so no other BillStack-signed JWT can pass for one), `iat` and `exp`.
Only its SHA-256 digest is stored.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import time
from functools import lru_cache
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm

from billstack.config import get_settings
from billstack.errors import BillStackError

TOKEN_ALGORITHM = "HS256"
TOKEN_AUDIENCE = "billstack:portal"
_TOKEN_CLAIMS = ("sid", "pid", "cid", "aud", "iat", "exp")
_TOKEN_MAX_LENGTH = 2048

# Token error codes (all HTTP 401, type `authentication_error`).
TOKEN_INVALID = "token_invalid"
TOKEN_EXPIRED = "token_expired"
TOKEN_REVOKED = "token_revoked"
# A genuine, live token whose session is bound to another browser (services/sessions/binding.py).
TOKEN_USED = "token_used"


class PortalTokenError(BillStackError):
    """A portal token did not validate. `code` is token_invalid, token_expired, token_revoked
    or token_used.

    For tokens that carry our valid signature but are expired, revoked or used, `return_url`
    and `project_id` say where "Return to the app" should go and whose branding to show,
    `locale` in which language (the session's).
    They are None for invalid tokens, whose contents cannot be trusted.
    """

    def __init__(
        self, code: str, message: str, *, return_url: str | None = None, project_id: str | None = None,
        locale: str | None = None,
    ) -> None:
        super().__init__(message, code=code, type="authentication_error", status=401)
        self.return_url = return_url
        self.project_id = project_id
        self.locale = locale


def token_claims(
    session_id: str, project_id: str, customer_id: str, issued_at: int, expires_at: int
) -> dict[str, Any]:
    return {
        "sid": session_id,
        "pid": project_id,
        "cid": customer_id,
        "aud": TOKEN_AUDIENCE,
        "iat": issued_at,
        "exp": expires_at,
    }


def encode_token(claims: dict[str, Any], key: str) -> str:
    """`jwt.encode(claims, key, algorithm="HS256")`, byte for byte, at a fraction of the cost.

    PyJWT re-serialises the constant header and re-prepares the key on every call; on
    the hot path we keep both and sign with PyJWT's own HMAC-SHA256. Decoding — the
    security check — always goes through `jwt.decode` (see `decode_token`).
    """
    prepared = _prepared_keys.get(key)
    if prepared is None:
        prepared = _HS256.prepare_key(key)
        if len(_prepared_keys) > 8:
            _prepared_keys.clear()
        _prepared_keys[key] = prepared
    payload = base64.urlsafe_b64encode(_JSON.encode(claims).encode()).rstrip(b"=")
    signing_input = _JWT_HEADER + b"." + payload
    signature = base64.urlsafe_b64encode(_HS256.sign(signing_input, prepared)).rstrip(b"=")
    return (signing_input + b"." + signature).decode()


_HS256 = HMACAlgorithm(HMACAlgorithm.SHA256)
_JWT_HEADER = base64.urlsafe_b64encode(
    json.dumps({"alg": TOKEN_ALGORITHM, "typ": "JWT"}, separators=(",", ":"), sort_keys=True).encode()
).rstrip(b"=")
_prepared_keys: dict[str, bytes] = {}
# json.dumps builds a new encoder for every call with options; this one is built once.
_JSON = json.JSONEncoder(separators=(",", ":"))


def decode_token(token: str) -> dict[str, Any] | None:
    """Claims of a token signed by one of our keys (current, then previous), else None.

    Checks signature, the pinned algorithm, audience and claim types — not expiry, which
    the caller checks against its (injectable) clock. No database access.
    """
    if not isinstance(token, str) or not token or len(token) > _TOKEN_MAX_LENGTH or not token.isascii():
        return None
    claims = _verified_claims(token, tuple(get_settings().signing_keys()))
    return dict(claims) if claims is not None else None


# An open portal page sends every event with the same token, and each one is validated
# again (services/sessions/validation.py): the signature check of a token string under a
# given key set always gives the same claims, so it runs once per token, not per event.
# The database checks (revoked, expired, bound) still run on every use. Bounded, so a
# flood of made-up tokens only evicts entries.
@lru_cache(maxsize=4096)
def _verified_claims(token: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
    for key in keys:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[TOKEN_ALGORITHM],
                audience=TOKEN_AUDIENCE,
                options={"require": list(_TOKEN_CLAIMS), "verify_exp": False, "verify_iat": False,
                         "verify_nbf": False},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:
            return None
        if not all(isinstance(claims[c], str) and claims[c] for c in ("sid", "pid", "cid")):
            return None
        if isinstance(claims["exp"], bool) or not isinstance(claims["exp"], int | float):
            return None
        return claims
    return None


def project_id_from_token(token: str) -> str | None:
    """The project a correctly signed token names (even if expired). No database access."""
    claims = decode_token(token)
    return claims["pid"] if claims else None


# --- session ids -------------------------------------------------------------------------

_BASE36 = (string.digits + string.ascii_lowercase).encode()  # sorts the same in every collation
_BASE62 = (string.digits + string.ascii_uppercase + string.ascii_lowercase).encode()
# Random byte b → base62 character b % 62; bytes ≥ 248 are deleted (4 × 62 = 248), so
# every character is equally likely (no modulo bias).
_BASE62_OF_BYTE = bytes(_BASE62[b % 62] for b in range(256))
_BIASED_BYTES = bytes(range(248, 256))
SESSION_ID_TIME_CHARS = 9  # milliseconds since 1970 in base36: good until the year 5188
SESSION_ID_RANDOM_CHARS = 11  # 65 random bits: unique even among sessions of the same millisecond


def new_session_id(now_ms: int | None = None) -> str:
    """`portal_sess_` + 20 characters: the time in milliseconds (base36), then 11 random (base62).

    Time first so that each new id lands at the end of the primary-key index instead of
    at a random page of it: a session creation then dirties the same few index pages
    as the ones before it, rather than one more page of a growing index each (fewer
    pages to write per commit). Nothing relies on ids being unguessable: a portal is
    opened by its signed token, and a session is revoked with the project's API key.
    """
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    stamp = bytearray(SESSION_ID_TIME_CHARS)
    for index in range(SESSION_ID_TIME_CHARS - 1, -1, -1):
        ms, digit = divmod(ms, 36)
        stamp[index] = _BASE36[digit]
    randoms = b""
    while len(randoms) < SESSION_ID_RANDOM_CHARS:  # 16 random bytes leave fewer than 11 about once in 175,000 calls
        randoms += secrets.token_bytes(16).translate(_BASE62_OF_BYTE, _BIASED_BYTES)
    return "portal_sess_" + stamp.decode() + randoms[:SESSION_ID_RANDOM_CHARS].decode()
