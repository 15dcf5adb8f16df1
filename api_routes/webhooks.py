"""Stripe webhooks: `POST /api/billstack/webhooks/stripe/{projectId}`.

Thin: the raw body and `Stripe-Signature` go to `services.webhooks.receive_event`
(signature check, one row per event id), the worker thread is woken, and Stripe gets
its 200 at once; the mirror is updated off the request path. Every unverifiable
delivery (no or bad signature, unknown project, no secret configured) is the same 400
`webhook_signature_invalid`; a verified body that is not a Stripe event (not a JSON
object, a value that would not fit where it is stored, …) is a 400
`webhook_payload_invalid` saying why. Neither changes anything. The body limit is
1 MiB, not the JSON API's 16 KiB (api_routes/limits.py).
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel

from api_routes.schemas import ErrorResponse
from billstack import routes
from billstack.db import session_scope
from billstack.services import webhooks

router = APIRouter(tags=["Webhooks"])


class WebhookReceived(BaseModel):
    received: bool
    duplicate: bool


_DESCRIPTION = """
Where Stripe delivers the project's events (`billstack webhooks register` creates the
endpoint and stores its signing secret). The `Stripe-Signature` header is verified with
that secret (5-minute tolerance); a delivery that does not verify is a 400
`webhook_signature_invalid`, and a verified body that is not a well-formed Stripe event
is a 400 `webhook_payload_invalid`; neither changes anything. A verified event is
recorded once (a repeated event id answers 200 with `duplicate: true`) and processed
in the background: BillStack re-reads the object from Stripe and updates its mirror, so
the order of deliveries does not matter.
"""

_INVALID_DESCRIPTION = ("Signature missing or invalid, or unknown project (`webhook_signature_invalid`); "
                        "or a signed body that is not a Stripe event (`webhook_payload_invalid`).")


@router.post(
    routes.STRIPE_WEBHOOK_PREFIX + "{projectId}",
    response_model=WebhookReceived,
    responses={400: {"model": ErrorResponse, "description": _INVALID_DESCRIPTION},
               413: {"model": ErrorResponse}, 415: {"model": ErrorResponse}},
    summary="Receive a Stripe webhook",
    description=_DESCRIPTION,
    operation_id="receiveStripeWebhook",
)
async def receive_stripe_webhook(projectId: str, request: Request) -> WebhookReceived:
    payload = await request.body()  # raw bytes: the signature covers them exactly
    signature = request.headers.get("stripe-signature")
    received = await anyio.to_thread.run_sync(_receive, projectId, payload, signature)
    if not received.duplicate:
        webhooks.worker.notify()
    return WebhookReceived(received=True, duplicate=received.duplicate)


def _receive(project_id: str, payload: bytes, signature: str | None) -> webhooks.Received:
    with session_scope() as db:
        return webhooks.receive_event(db, project_id, payload, signature)
