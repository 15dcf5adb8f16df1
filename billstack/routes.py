"""Route constants: the one place that knows the portal's URL shapes."""

PORTAL_PREFIX = "/portal/"
PORTAL = "/portal/[token]"
HOME = "/"


def portal_path(token: str) -> str:
    return PORTAL_PREFIX + token


def portal_url(public_url: str, token: str) -> str:
    """The absolute portal link a customer opens (`public_url` is BILLSTACK_PUBLIC_URL)."""
    return public_url.rstrip("/") + portal_path(token)


def token_from_path(path: str) -> str:
    """`/portal/<token>` (with or without trailing slash) → `<token>`; anything else → ''."""
    if not path.startswith(PORTAL_PREFIX):
        return ""
    return path[len(PORTAL_PREFIX) :].strip("/").split("/")[0]

# Where Stripe delivers a project's webhooks (api_routes/webhooks.py).
STRIPE_WEBHOOK_PREFIX = "/api/billstack/webhooks/stripe/"


def stripe_webhook_path(project_id: str) -> str:
    return STRIPE_WEBHOOK_PREFIX + project_id


# The session API (api_routes/portal_sessions.py): a SaaS backend mints portal sessions here.
API_PREFIX = "/api/billstack"
PORTAL_SESSIONS_ROUTE = "/teams/{teamId}/projects/{projectId}/portal"
PORTAL_SESSIONS_PATH = API_PREFIX + PORTAL_SESSIONS_ROUTE
PORTAL_SESSION_ROUTE = PORTAL_SESSIONS_ROUTE + "/{sessionId}"


def portal_sessions_path(team_id: str, project_id: str) -> str:
    """`POST` here (with the project's API key) creates a portal session."""
    return PORTAL_SESSIONS_PATH.format(teamId=team_id, projectId=project_id)
