"""Identifiers shaped like Stripe's (`cus_` + 14, `sub_` + 24, `cs_test_` + 58, …)."""

from __future__ import annotations

import random
import string

_ALPHABET = string.ascii_letters + string.digits
_rng = random.SystemRandom()

_LENGTHS = {"cus": 14, "prod": 14, "si": 14, "req": 14, "cs_test": 58, "whsec": 32}


def new_id(prefix: str, length: int | None = None) -> str:
    n = length or _LENGTHS.get(prefix, 24)
    return f"{prefix}_" + "".join(_rng.choices(_ALPHABET, k=n))


def random_text(length: int) -> str:
    return "".join(_rng.choices(_ALPHABET, k=length))


def new_secret_key() -> str:
    return new_id("sk_test", 40)
