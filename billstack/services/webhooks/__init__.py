"""Stripe webhooks: verify and record on receipt, bring the mirror up to date off the request path.

- `receipt`: `receive_event` (called by api_routes/webhooks.py) verifies the signature,
  checks the body is a Stripe event whose values fit their columns, and records it once;
  the answer goes back at once.
- `processing` + `handlers`: `process_due_events`, run by the worker, claims due events
  and re-reads each event's object from Stripe to write the mirror (an event is only a
  signal), retrying failures with back-off.
- `worker_thread`: `WebhookWorker`, one daemon thread per server process, and `worker`,
  the process's one instance (woken by each receipt, started by `worker_lifespan`).
- `endpoints`: operator setup (`register_endpoint`) and health (`webhook_status`).
- `events`: the event kinds handled, what is subscribed to, and the outcomes recorded.
"""

from billstack.services.webhooks.endpoints import (
    FAILURES_SHOWN,
    LAG_SAMPLE,
    Failure,
    Registration,
    WebhookStatus,
    default_url,
    register_endpoint,
    webhook_status,
)
from billstack.services.webhooks.events import (
    APPLIED,
    HANDLED_EVENTS,
    IGNORED_CUSTOMER,
    IGNORED_TYPE,
    UNCHANGED,
    kind_of,
)
from billstack.services.webhooks.handlers import Result, process_event
from billstack.services.webhooks.processing import LEASE, RETENTION, RETRY_BACKOFF, process_due_events, prune_processed
from billstack.services.webhooks.receipt import (
    EVENT_ID_PREFIX,
    SIGNATURE_TOLERANCE_S,
    ParsedEvent,
    Received,
    malformed,
    parse_event,
    receive_event,
    rejected,
)
from billstack.services.webhooks.worker_thread import WebhookWorker, worker, worker_lifespan

__all__ = [
    "APPLIED",
    "EVENT_ID_PREFIX",
    "FAILURES_SHOWN",
    "HANDLED_EVENTS",
    "IGNORED_CUSTOMER",
    "IGNORED_TYPE",
    "LAG_SAMPLE",
    "LEASE",
    "RETENTION",
    "RETRY_BACKOFF",
    "SIGNATURE_TOLERANCE_S",
    "UNCHANGED",
    "Failure",
    "ParsedEvent",
    "Received",
    "Registration",
    "Result",
    "WebhookStatus",
    "WebhookWorker",
    "default_url",
    "kind_of",
    "malformed",
    "parse_event",
    "process_due_events",
    "process_event",
    "prune_processed",
    "receive_event",
    "register_endpoint",
    "rejected",
    "webhook_status",
    "worker",
    "worker_lifespan",
]
