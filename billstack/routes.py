"""Route constants: the one place that knows the portal's URL shapes."""

PORTAL_PREFIX = "/portal/"
PORTAL = "/portal/[token]"
HOME = "/"


def portal_path(token: str) -> str:
    return PORTAL_PREFIX + token


def token_from_path(path: str) -> str:
    """`/portal/<token>` (with or without trailing slash) → `<token>`; anything else → ''."""
    if not path.startswith(PORTAL_PREFIX):
        return ""
    return path[len(PORTAL_PREFIX) :].strip("/").split("/")[0]

# Where Stripe delivers a project's webhooks (api_routes/webhooks.py).
STRIPE_WEBHOOK_PREFIX = "/api/billstack/webhooks/stripe/"


def stripe_webhook_path(project_id: str) -> str:
    return STRIPE_WEBHOOK_PREFIX + project_id
