"""Audit events API: an operator's (or the SaaS backend's) read of what was done in a
project's portal and to its sessions, with the project's API key.

Thin: authenticate (ProjectAuth), count the call against the key's rate limit (as the
customers API does), one service call (services/audit.py), shape the page.
`billstack audit list` calls the same service.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from api_routes.deps import ProjectAuth
from api_routes.schemas import RequestBody, ResponseBody, error_responses
from billstack import routes
from billstack.services import audit, customers, sessions
from billstack.services.views import ISO_Z_PATTERN

router = APIRouter(prefix=routes.API_PREFIX, tags=["Audit events"])

_MOMENT = "An ISO 8601 date or time (`2026-03-30`, `2026-03-30T12:00:00Z`; no offset means UTC) or a time ago: " \
          "`30m`, `24h`, `7d`, `2w`."


class ListAuditEventsQuery(RequestBody):
    customer_id: str | None = Field(default=None, max_length=40, description="Only this customer's events (`pc_…`).")
    since: str | None = Field(default=None, max_length=64, description="Events at or after this moment. " + _MOMENT)
    until: str | None = Field(default=None, max_length=64, description="Events before this moment. " + _MOMENT)
    action: str | None = Field(default=None, max_length=audit.ACTION_MAX,
                               description="Only this action, e.g. `subscription.cancel_scheduled`.")
    limit: int = Field(default=audit.LIST_LIMIT_DEFAULT, ge=1, le=audit.LIST_LIMIT_MAX, description="Page size, 1 to 100.")
    starting_after: int | None = Field(default=None, ge=1, le=audit.ID_MAX,
                                       description="The last `id` of the previous page.")


class AuditEventOut(ResponseBody):
    id: int = Field(examples=[1042], description="Increases with time: pages go from newest to oldest.")
    action: str = Field(examples=["subscription.cancel_scheduled"])
    outcome: Literal["ok", "failed", "denied"] = Field(
        description="`ok`; `failed`: tried, and Stripe refused or an error stopped it (nothing changed); "
        "`denied`: refused by BillStack's rules (a feature off, another customer's object, a card in use).")
    project_id: str | None = Field(examples=["proj_9sKd2LmX0aBcDeFgHiJk"])
    customer_id: str | None = Field(examples=["pc_7Hq2LmX9aBcDeFgHiJkL"])
    session_id: str | None = Field(examples=["portal_sess_4fGh7JkL9zXcVbNm1Q2w"])
    api_key_id: str | None = Field(description="The API key that made or revoked the session, if any.")
    stripe_object_id: str | None = Field(examples=["sub_1QxYz2AbCdEfGhIj"],
                                         description="The Stripe object the action touched (sub_…, pm_…, txi_…, "
                                         "cus_…, cs_…).")
    client_ip: str | None = Field(examples=["203.0.113.7"])
    user_agent: str | None = Field(examples=["Mozilla/5.0 (X11; Linux x86_64) …"])
    created_at: str = Field(pattern=ISO_Z_PATTERN, examples=["2026-03-30T12:00:00Z"])
    detail: dict[str, Any] | None = Field(description="More about the action (field names, a reason, the error "
                                          "code of a failure); never secrets.")


class AuditEventList(ResponseBody):
    object: Literal["list"] = "list"
    data: list[AuditEventOut]
    has_more: bool = Field(description="More events follow: pass the last `id` as `startingAfter`.")


_ERRORS = {
    400: "Invalid query parameter, or an unknown one (`param` names it).",
    401: "Missing, malformed, unknown or revoked API key.",
    403: "The key is valid but not for this team and project.",
    429: "Rate limited; see `Retry-After`.",
}
_DESCRIPTION = f"""
The project's audit trail, newest first: every portal action (one of
{", ".join(f"`{name}`" for name in audit.PORTAL_ACTIONS)}), successful or not (`outcome`), and
every portal session made, revoked or bound to a browser; the operator's changes to the project
too. Filter by `customerId`, `since`/`until` and `action`; page with `limit` and `startingAfter`.
Events older than `BILLSTACK_AUDIT_RETENTION_DAYS` (default 365) are deleted.
"""


@router.get(
    routes.AUDIT_EVENTS_ROUTE,
    response_model=AuditEventList,
    responses=error_responses(_ERRORS),
    summary="List audit events",
    description=_DESCRIPTION,
    operation_id="listAuditEvents",
)
def list_audit_events(query: Annotated[ListAuditEventsQuery, Query()], project: ProjectAuth) -> AuditEventList:
    since = audit.parse_moment(query.since, "since") if query.since is not None else None
    until = audit.parse_moment(query.until, "until") if query.until is not None else None

    def run(db: Any, _key_id: str) -> AuditEventList:
        customers.count_api_call(sessions.rate_limit_key(project.api_key))
        events, has_more = audit.list_events(
            db, project.project_id, customer_id=query.customer_id, since=since, until=until, action=query.action,
            limit=query.limit, starting_after=query.starting_after,
        )
        return AuditEventList(data=[AuditEventOut.model_validate(audit.event_fields(e)) for e in events],
                              has_more=has_more)

    return project.run(run)
