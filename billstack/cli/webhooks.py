"""`billstack webhooks …`: register the Stripe endpoint that keeps the mirror current, check its health."""

from __future__ import annotations

from typing import Any

import click

from billstack import routes
from billstack.cli.output import emit, fields, json_option
from billstack.cli.root import main
from billstack.cli.shapes import iso
from billstack.cli.work import unit_of_work
from billstack.clock import utcnow
from billstack.services import webhooks
from billstack.services.tenants import private_host_of


@main.group("webhooks", short_help="Stripe webhooks: register the endpoint, check its health.")
def webhooks_group() -> None:
    """Stripe webhooks: register the endpoint that keeps the mirror current, check its health."""


@webhooks_group.command("register", short_help="Create the Stripe webhook endpoint and store its secret.")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@click.option("--url", default=None,
              help=f"Public URL Stripe posts to [default: BILLSTACK_PUBLIC_URL{routes.STRIPE_WEBHOOK_PREFIX}<project>].")
@json_option
def webhooks_register(project_id: str, url: str | None) -> None:
    """Create the webhook endpoint in Stripe and store its signing secret (sealed, never shown).

    Subscribes to the subscription, invoice, payment-method, customer and
    checkout.session.completed events the portal needs. Registering again replaces
    the endpoint BillStack created before.
    """
    with unit_of_work() as db:
        registered = webhooks.register_endpoint(db, project_id, url)
    data = {
        "id": registered.endpoint_id,
        "object": "webhook_endpoint",
        "projectId": project_id,
        "url": registered.url,
        "enabledEvents": list(registered.events),
        "webhookSecret": "set",
        "replaced": registered.replaced,
    }
    lines = [
        f"Registered webhook endpoint {registered.endpoint_id} for {project_id}:",
        f"  URL:     {registered.url}",
        f"  Events:  {len(registered.events)} (subscriptions, invoices, payment methods, customers, checkout)",
        "  Secret:  stored sealed",
    ]
    if registered.replaced:
        outcome = f"could not be deleted: {registered.replace_error}" if registered.replace_error else "deleted"
        lines.append(f"  Replaces {registered.replaced} ({outcome}).")
    emit(data, lines, _reachability_warnings(registered.url))


def _reachability_warnings(url: str) -> list[str]:
    host = private_host_of(url)
    if host is None:
        return []
    return [
        f"{url} is not a public URL ({host} is local or private): Stripe cannot reach it, so no events "
        "will arrive. Fine with a local Stripe emulator; for Stripe, register a public URL (--url, or "
        "BILLSTACK_PUBLIC_URL)."
    ]


@webhooks_group.command("status", short_help="Webhook health: counts, failures, processing lag.")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@json_option
def webhooks_status(project_id: str) -> None:
    """Webhook health: last received, processed and failed counts, failures, processing lag."""
    with unit_of_work() as db:
        status = webhooks.webhook_status(db, project_id)
    data = _status_json(project_id, status)
    emit(data, _webhook_status_lines(data))


def _status_json(project_id: str, status: webhooks.WebhookStatus) -> dict[str, Any]:
    now = utcnow()
    oldest_age = (now - status.oldest_unprocessed_at).total_seconds() if status.oldest_unprocessed_at else None
    return {
        "id": project_id,
        "object": "webhook_status",
        "endpointId": status.endpoint_id,
        "webhookSecret": "set" if status.secret_set else None,
        "lastReceivedAt": iso(status.last_received_at),
        "lastEventType": status.last_type,
        "counts": {
            "received": status.received,
            "applied": status.applied,
            "unchanged": status.unchanged,
            "ignored": status.ignored,
            "pending": status.pending,
            "retrying": status.retrying,
            "failed": status.failed,
        },
        "lag": {
            "averageSeconds": status.lag_avg_s,
            "maxSeconds": status.lag_max_s,
            "oldestUnprocessedSeconds": round(oldest_age, 1) if oldest_age is not None else None,
        },
        "failures": [
            {
                "eventId": f.stripe_event_id,
                "type": f.type,
                "attempts": f.attempts,
                "error": f.error,
                "receivedAt": iso(f.received_at),
                "nextAttemptAt": iso(f.next_attempt_at),
            }
            for f in status.failures
        ],
    }


def _webhook_status_lines(data: dict[str, Any]) -> list[str]:
    counts, lag = data["counts"], data["lag"]
    last = f"{data['lastReceivedAt']} ({data['lastEventType']})" if data["lastReceivedAt"] else "never"
    lag_text = (
        f"average {lag['averageSeconds']:.2f} s, max {lag['maxSeconds']:.2f} s (received → processed, last 100)"
        if lag["averageSeconds"] is not None else None
    )
    lines = [f"Webhooks of {data['id']}", *fields([
        ("Endpoint", data["endpointId"] or ("registered elsewhere" if data["webhookSecret"] else "not registered")),
        ("Signing secret", "set" if data["webhookSecret"] else "not set: deliveries are refused"),
        ("Last received", last),
        ("Events", (f"{counts['received']} received: {counts['applied']} applied, {counts['unchanged']} unchanged, "
                    f"{counts['ignored']} ignored, {counts['pending']} pending, {counts['retrying']} retrying, "
                    f"{counts['failed']} failed")),
        ("Lag", lag_text),
        ("Oldest unprocessed", None if lag["oldestUnprocessedSeconds"] is None
         else f"{lag['oldestUnprocessedSeconds']:.0f} s ago"),
    ])]
    if data["failures"]:
        lines.append("  Failures (newest first):")
        for f in data["failures"]:
            retry = f"next try {f['nextAttemptAt']}" if f["nextAttemptAt"] else "given up"
            lines.append(f"    {f['eventId']}  {f['type']}  {f['attempts']} attempt(s), {retry}: {f['error']}")
    return lines
