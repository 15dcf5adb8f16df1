"""Webhook delivery: Stripe-signed POSTs from background threads, retried with back-off.

Each attempt is signed afresh (`Stripe-Signature: t=<now>,v1=<HMAC-SHA256("t.payload")>`),
so `stripe.Webhook.construct_event` accepts it. A delivery succeeds on any 2xx; other
statuses and connection errors are retried after `backoff[i]` seconds, at most
`len(backoff) + 1` attempts in all.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from stripe_emulator.ids import new_id
from stripe_emulator.store import Account, Store

DEFAULT_BACKOFF = (0.2, 0.5, 1.0, 2.0, 4.0)


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@dataclass
class Delivery:
    id: str
    account: Account
    event_id: str
    endpoint_id: str
    url: str
    secret: str
    payload: str
    attempts: list[dict[str, Any]] = field(default_factory=list)
    status: str = "pending"  # pending | succeeded | failed

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event_id,
            "webhook_endpoint": self.endpoint_id,
            "url": self.url,
            "status": self.status,
            "attempts": list(self.attempts),
        }


class WebhookDispatcher:
    def __init__(
        self,
        store: Store,
        *,
        backoff: tuple[float, ...] = DEFAULT_BACKOFF,
        threads: int = 4,
        timeout: float = 5.0,
    ):
        self.store = store
        self.backoff = backoff
        self.timeout = timeout
        self._heap: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._run, name=f"emulator-webhooks-{i}", daemon=True)
            for i in range(threads)
        ]
        self._started = False

    # --- called under the store lock by Ctx.emit ---
    def enqueue(self, account: Account, event: dict[str, Any], endpoint: dict[str, Any]) -> Delivery:
        delivery = Delivery(
            id=new_id("whdel"),
            account=account,
            event_id=event["id"],
            endpoint_id=endpoint["id"],
            url=endpoint["url"],
            secret=endpoint["_secret"],
            payload=json.dumps(event, indent=2),
        )
        account.deliveries.append(delivery)
        self._push(delivery, time.monotonic())
        return delivery

    def start(self) -> None:
        if not self._started:
            self._started = True
            for t in self._threads:
                t.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._started:
            for t in self._threads:
                t.join(timeout=self.timeout + 1)

    def _push(self, delivery: Delivery, due: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), delivery))
            self._cond.notify()

    def _next(self) -> Delivery | None:
        with self._cond:
            while not self._stopping:
                if self._heap:
                    due = self._heap[0][0]
                    wait = due - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._heap)[2]
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout) as http:
            while (delivery := self._next()) is not None:
                self._attempt(http, delivery)

    def _attempt(self, http: httpx.Client, delivery: Delivery) -> None:
        with self.store.lock:
            endpoint = delivery.account.objects.get(delivery.endpoint_id)
            if endpoint is None or endpoint.get("status") != "enabled":
                delivery.status = "failed"  # endpoint deleted or disabled meanwhile
                return
            if delivery.event_id not in delivery.account.objects:
                delivery.status = "canceled"  # the request that raised the event was rolled back
                return
        record: dict[str, Any] = {"at": time.time(), "status": None, "error": None}
        try:
            resp = http.post(
                delivery.url,
                content=delivery.payload.encode(),
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    "Stripe-Signature": sign(delivery.payload, delivery.secret),
                },
            )
            record["status"] = resp.status_code
            ok = 200 <= resp.status_code < 300
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            ok = False
        with self.store.lock:
            delivery.attempts.append(record)
            if ok:
                delivery.status = "succeeded"
                event = delivery.account.objects.get(delivery.event_id)
                if event is not None and event["pending_webhooks"] > 0:
                    event["pending_webhooks"] -= 1
            elif len(delivery.attempts) > len(self.backoff):
                delivery.status = "failed"
        if not ok and delivery.status == "pending":
            self._push(delivery, time.monotonic() + self.backoff[len(delivery.attempts) - 1])
