"""Hashing and sealing of secrets at rest.

- API keys and portal tokens are high-entropy, so a SHA-256 digest is enough to
  look them up without a slow KDF per request; comparisons are constant-time.
- Stripe secret keys and webhook signing secrets must be usable later, so they are
  sealed (Fernet, key derived from BILLSTACK_SECRET_KEY; the previous key still opens
  what it sealed, so rotation does not lose projects).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from billstack.config import get_settings


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def digests_match(secret: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), stored_digest)


def _fernet_for(key: str) -> Fernet:
    derived = hashlib.sha256(b"billstack-seal:" + key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def _box() -> MultiFernet:
    return MultiFernet([_fernet_for(key) for key in get_settings().signing_keys()])


def seal(plain: str) -> str:
    return _box().encrypt(plain.encode()).decode()


def unseal(sealed: str) -> str:
    try:
        return _box().decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise RuntimeError(
            "A stored secret cannot be decrypted with BILLSTACK_SECRET_KEY or "
            "BILLSTACK_SECRET_KEY_PREVIOUS; was the secret key changed without rotation?"
        ) from exc
