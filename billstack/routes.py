"""Route constants: the one place that knows the app's URL shapes (pages and APIs)."""

# --- pages -------------------------------------------------------------------------------
PORTAL_PREFIX = "/portal/"
PORTAL = PORTAL_PREFIX + "[token]"
HOME = "/"


def portal_path(token: str) -> str:
    return PORTAL_PREFIX + token


def portal_url(public_url: str, token: str) -> str:
    """The absolute portal link a customer opens (`public_url` is BILLSTACK_PUBLIC_URL)."""
    return public_url.rstrip("/") + portal_path(token)


# The home page marked as where a customer lands coming back from the portal (the demo
# tenant's return URL), so its "Return to …" link explains itself.
RETURNED_FROM_PARAM = "returned-from"
RETURNED_FROM_PORTAL = "billstack"


def returned_from_portal_url(public_url: str) -> str:
    return f"{public_url.rstrip('/')}{HOME}?{RETURNED_FROM_PARAM}={RETURNED_FROM_PORTAL}"


def token_from_path(path: str) -> str:
    """`/portal/<token>` (with or without trailing slash) → `<token>`; anything else → ''."""
    if not path.startswith(PORTAL_PREFIX):
        return ""
    return path[len(PORTAL_PREFIX) :].strip("/").split("/")[0]


# --- APIs --------------------------------------------------------------------------------
# Every JSON API lives under /api (errors there are JSON, never the app's HTML page).
API_ROOT = "/api"
OPENAPI_PATH = API_ROOT + "/openapi.json"
# The token-authenticated portal API (api_routes/portal.py): /api/portal/{token}/…
PORTAL_API_PREFIX = API_ROOT + "/portal"

# The session API (api_routes/portal_sessions.py): a SaaS backend mints portal sessions here.
API_PREFIX = API_ROOT + "/billstack"
PORTAL_SESSIONS_ROUTE = "/teams/{teamId}/projects/{projectId}/portal"
PORTAL_SESSIONS_PATH = API_PREFIX + PORTAL_SESSIONS_ROUTE
PORTAL_SESSION_ROUTE = PORTAL_SESSIONS_ROUTE + "/{sessionId}"


def portal_sessions_path(team_id: str, project_id: str) -> str:
    """`POST` here (with the project's API key) creates a portal session."""
    return PORTAL_SESSIONS_PATH.format(teamId=team_id, projectId=project_id)


# Stripe's own portal-session endpoint, served on the BillStack host for Stripe's SDKs
# (api_routes/stripe_compat.py): only their base URL and key change.
STRIPE_PORTAL_SESSIONS_PATH = "/v1/billing_portal/sessions"

# The customers API (api_routes/customers.py): a SaaS backend creates, finds and removes the
# project's customers (pc_…) here, with the same API key.
CUSTOMERS_ROUTE = "/teams/{teamId}/projects/{projectId}/customers"
CUSTOMERS_PATH = API_PREFIX + CUSTOMERS_ROUTE
CUSTOMER_ROUTE = CUSTOMERS_ROUTE + "/{customerId}"


def customers_path(team_id: str, project_id: str) -> str:
    """`POST` here creates (or links) a customer, `GET` lists them; `/{customerId}` is one."""
    return CUSTOMERS_PATH.format(teamId=team_id, projectId=project_id)


# The audit trail (api_routes/audit.py): what was done in a project's portal and sessions, pages
# of events newest first, with the same API key.
AUDIT_EVENTS_ROUTE = "/teams/{teamId}/projects/{projectId}/audit-events"
AUDIT_EVENTS_PATH = API_PREFIX + AUDIT_EVENTS_ROUTE


def audit_events_path(team_id: str, project_id: str) -> str:
    return AUDIT_EVENTS_PATH.format(teamId=team_id, projectId=project_id)


# Where Stripe delivers a project's webhooks (api_routes/webhooks.py).
STRIPE_WEBHOOK_PREFIX = API_PREFIX + "/webhooks/stripe/"


def stripe_webhook_path(project_id: str) -> str:
    return STRIPE_WEBHOOK_PREFIX + project_id


# Operations: unauthenticated, cheap, for load balancers and monitoring.
HEALTHZ_PATH = "/healthz"  # the process is up
READYZ_PATH = "/readyz"  # the database (and Redis, when configured) answer: else 503 naming what is down
METRICS_PATH = "/metrics"  # Prometheus text format, only with BILLSTACK_METRICS=1
