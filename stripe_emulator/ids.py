"""Identifiers shaped like Stripe's (`cus_` + 14, `sub_` + 24, `cs_test_` + 58, …)."""

from __future__ import annotations

import os
import string

_ALPHABET = string.ascii_letters + string.digits
# 248 = 4 × 62: bytes at or above it are skipped, so every character is equally likely.
_LIMIT = 4 * len(_ALPHABET)

_LENGTHS = {"cus": 14, "prod": 14, "si": 14, "req": 14, "cs_test": 58, "whsec": 32}


def random_text(length: int) -> str:
    """Unpredictable text (one urandom call): ids double as capability tokens for hosted pages."""
    out = ""
    while len(out) < length:
        out += "".join(_ALPHABET[b % 62] for b in os.urandom(length + 8) if b < _LIMIT)
    return out[:length]


def new_id(prefix: str, length: int | None = None) -> str:
    return f"{prefix}_" + random_text(length or _LENGTHS.get(prefix, 24))


def new_secret_key() -> str:
    return new_id("sk_test", 40)
