"""What a handler needs: the account, its clock, the public base URL, and event emission."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stripe_emulator.ids import new_id
from stripe_emulator.render import render
from stripe_emulator.store import Account, Store
from stripe_emulator.webhooks import WebhookDispatcher

API_VERSION = "2026-10-28.endive"


@dataclass
class Ctx:
    store: Store
    account: Account
    base_url: str  # e.g. "http://127.0.0.1:12111", no trailing slash
    webhooks: WebhookDispatcher | None = None
    request_id: str | None = None
    idempotency_key: str | None = None

    def now(self) -> int:
        return self.account.now()

    def url(self, path: str) -> str:
        return self.base_url + path

    def emit(
        self, event_type: str, obj: dict[str, Any], previous_attributes: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Record an event (snapshot of `obj` now) and queue it for matching webhook endpoints."""
        data: dict[str, Any] = {"object": render(self, obj)}
        if previous_attributes:
            data["previous_attributes"] = previous_attributes
        endpoints = [
            we
            for we in self.account.all("webhook_endpoint")
            if we["status"] == "enabled"
            and ("*" in we["enabled_events"] or event_type in we["enabled_events"])
        ]
        event = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": len(endpoints),
            "request": {"id": self.request_id, "idempotency_key": self.idempotency_key},
            "type": event_type,
        }
        self.account.add(event)
        if self.webhooks is not None:
            for endpoint in endpoints:
                self.webhooks.enqueue(self.account, event, endpoint)
        return event


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """`previous_attributes`: the old values of the top-level fields that changed."""
    return {k: v for k, v in before.items() if after.get(k) != v}
