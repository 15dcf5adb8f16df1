"""In-memory state: one `Account` per secret key, all behind one lock.

Objects are stored in Stripe's shape; keys that start with `_` are private
(never rendered). Each account keeps creation order per object type (for lists), its
own clock offset (time travel), queued faults and idempotency records.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from stripe_emulator.errors import no_such


@dataclass
class Fault:
    status: int | None = None  # 500 or 429; None = delay only
    delay_ms: int = 0
    retry_after: int | None = None


@dataclass
class IdempotentRecord:
    fingerprint: str
    status: int
    body: bytes


@dataclass
class Account:
    key: str
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: dict[str, list[str]] = field(default_factory=dict)
    clock_offset: int = 0
    faults: deque[Fault] = field(default_factory=deque)
    idempotency: dict[str, IdempotentRecord] = field(default_factory=dict)
    deliveries: list[Any] = field(default_factory=list)  # webhooks.Delivery, newest last
    journal: list[dict[str, Any]] | None = None  # objects added by the request in progress

    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        if self.journal is not None:
            self.journal.append(obj)
        self.objects[obj["id"]] = obj
        self.order.setdefault(obj["object"], []).append(obj["id"])
        return obj

    def remove(self, obj: dict[str, Any]) -> None:
        self.objects.pop(obj["id"], None)
        ids = self.order.get(obj["object"], [])
        if obj["id"] in ids:
            ids.remove(obj["id"])

    def get(self, obj_type: str, obj_id: Any) -> dict[str, Any] | None:
        if not isinstance(obj_id, str):
            return None
        obj = self.objects.get(obj_id)
        return obj if obj is not None and obj["object"] == obj_type else None

    def require(
        self, obj_type: str, obj_id: Any, *, param: str = "id", kind: str | None = None
    ) -> dict[str, Any]:
        obj = self.get(obj_type, obj_id)
        if obj is None:
            raise no_such(
                kind or obj_type.replace("_", " ").replace("checkout.session", "checkout.session"),
                str(obj_id),
                param,
            )
        return obj

    def all(self, obj_type: str) -> Iterator[dict[str, Any]]:
        """Oldest first."""
        for obj_id in self.order.get(obj_type, ()):
            yield self.objects[obj_id]

    def take_fault(self) -> Fault | None:
        return self.faults.popleft() if self.faults else None


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        # Unguessable public tokens (hosted invoice pages, checkout sessions) → owner.
        self.public: dict[str, tuple[Account, str]] = {}

    def account(self, key: str) -> Account:
        acct = self.accounts.get(key)
        if acct is None:
            acct = self.accounts[key] = Account(key)
        return acct

    def publish(self, token: str, account: Account, obj_id: str) -> None:
        self.public[token] = (account, obj_id)

    def lookup_public(self, token: str) -> tuple[Account, dict[str, Any]] | None:
        hit = self.public.get(token)
        if hit is None:
            return None
        account, obj_id = hit
        obj = account.objects.get(obj_id)
        return None if obj is None else (account, obj)
