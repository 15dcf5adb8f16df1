"""`billstack audit …`: read a project's audit trail, and delete what is past retention."""

from __future__ import annotations

import click

from billstack.cli.output import emit, json_option, table
from billstack.cli.root import main
from billstack.cli.work import unit_of_work
from billstack.clock import utcnow
from billstack.config import get_settings
from billstack.services import audit

USER_AGENT_SHOWN = 40


@main.group("audit", short_help="The audit trail: portal actions and sessions, who and from where.")
def audit_group() -> None:
    """The audit trail: every portal action (ok, failed or denied) and every portal session
    made, revoked or bound, with the customer, the Stripe object, the client's address and
    user agent."""


@audit_group.command("list", short_help="A project's audit events, newest first.")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@click.option("--customer", "customer_id", default=None, help="Only this customer's events (pc_…).")
@click.option("--since", default=None, help="From this moment: 2026-03-30, 2026-03-30T12:00:00Z, or ago: 30m, 24h, 7d, 2w.")
@click.option("--until", default=None, help="Before this moment (same forms as --since).")
@click.option("--action", default=None, help="Only this action, e.g. subscription.cancel_scheduled.")
@click.option("--limit", default=audit.LIST_LIMIT_DEFAULT, show_default=True, type=int,
              help=f"How many events, 1 to {audit.LIST_LIMIT_MAX}.")
@click.option("--starting-after", default=None, type=int, help="The last id of the previous page.")
@json_option
def audit_list(project_id: str, customer_id: str | None, since: str | None, until: str | None, action: str | None,
               limit: int, starting_after: int | None) -> None:
    """List the project's audit events, newest first (--json: {"object": "list", "data": [...], "hasMore": …})."""
    now = utcnow()
    since_at = audit.parse_moment(since, "since", now=now) if since is not None else None
    until_at = audit.parse_moment(until, "until", now=now) if until is not None else None
    with unit_of_work() as db:
        events, has_more = audit.list_events(db, project_id, customer_id=customer_id, since=since_at,
                                             until=until_at, action=action, limit=limit,
                                             starting_after=starting_after)
        data = [audit.event_fields(event) for event in events]
    rows = [(e["id"], e["createdAt"], e["action"], e["outcome"], e["customerId"], e["sessionId"],
             e["stripeObjectId"], e["clientIp"], _short(e["userAgent"])) for e in data]
    human = table(rows, ("ID", "TIME", "ACTION", "OUTCOME", "CUSTOMER", "SESSION", "STRIPE OBJECT", "CLIENT IP",
                         "USER AGENT"), "No audit events.")
    if has_more:
        human += f"\nMore events follow: --starting-after {data[-1]['id']}"
    emit({"object": "list", "data": data, "hasMore": has_more}, human)


@audit_group.command("prune", short_help="Delete events older than BILLSTACK_AUDIT_RETENTION_DAYS.")
@json_option
def audit_prune() -> None:
    """Delete audit events older than BILLSTACK_AUDIT_RETENTION_DAYS (default 365), as the
    server does every hour."""
    days = get_settings().audit_retention_days
    with unit_of_work() as db:
        deleted = audit.prune(db, utcnow())
    emit({"deleted": deleted, "retentionDays": days},
         f"Deleted {deleted} audit event{'' if deleted == 1 else 's'} older than {days} days.")


def _short(user_agent: str | None) -> str | None:
    if user_agent is None or len(user_agent) <= USER_AGENT_SHOWN:
        return user_agent
    return user_agent[:USER_AGENT_SHOWN - 1] + "…"
