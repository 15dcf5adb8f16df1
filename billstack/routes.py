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
