"""Portal sessions and their tokens (DESIGN.md §4.1, §4.2), by concern:

    tokens.py        the JWT (encode, decode, claims) and session ids; no database access
    validation.py    `validate_portal_token()`: THE check for every REST route and Reflex event
    request.py       `SessionRequest` (what a creation asks for) and the checks of its fields
    creation.py      the entry points: in the caller's transaction, committed, or on an event loop
    customer_keys.py a customer named by externalId / stripeCustomerId, or a key naming its project
    group_commit.py  SQLite: creations of one loop iteration share one transaction
    unit.py          one creation's checks and writes, inside the caller's transaction
    storage.py       the raw SQL of the creation fast path
    api_keys.py      authenticating a project API key; its last use
    revocation.py    revoking a session
    binding.py       link binding: the first browser's cookie, `token_used` for any other

The names other modules use are re-exported here: import them from
`billstack.services.sessions`. The frame-ancestors header is api_routes/security.py's.
"""

from billstack.i18n import DEFAULT_LOCALE, SUPPORTED_LOCALES
from billstack.services.sessions.api_keys import (
    LAST_USED_RESOLUTION,
    _last_used_written,
    authenticate_api_key,
    authenticate_project_key,
    rate_limit_key,
)
from billstack.services.sessions.creation import (
    create_async,
    create_committed,
    create_portal_session,
)
from billstack.services.sessions.request import (
    AFTER_COMPLETION_TYPES,
    AFTER_HOSTED_CONFIRMATION,
    AFTER_PORTAL_HOMEPAGE,
    AFTER_REDIRECT,
    CUSTOM_MESSAGE_MAX,
    CUSTOMER_KEYS,
    FLOW_PAYMENT_METHOD_UPDATE,
    FLOW_SUBSCRIPTION_CANCEL,
    FLOW_SUBSCRIPTION_UPDATE,
    FLOW_SUBSCRIPTION_UPDATE_CONFIRM,
    FLOW_TYPES,
    SUBSCRIPTION_ID_PATTERN,
    TTL_DEFAULT_MS,
    TTL_MAX_MS,
    TTL_MIN_MS,
    ProjectFacts,
    SessionRequest,
    check_after_completion,
    check_customer_keys,
    check_flow,
    check_return_url,
    check_ttl_ms,
    is_subscription_id,
    resolve_locale,
)
from billstack.services.sessions.revocation import AUDIT_REVOKED, revoke_portal_session
from billstack.services.sessions.storage import DatabaseBusy
from billstack.services.sessions.tokens import (
    TOKEN_ALGORITHM,
    TOKEN_AUDIENCE,
    TOKEN_EXPIRED,
    TOKEN_INVALID,
    TOKEN_REVOKED,
    TOKEN_USED,
    PortalTokenError,
    decode_token,
    encode_token,
    new_session_id,
    project_id_from_token,
)
from billstack.services.sessions.unit import AUDIT_CREATED, CreatedSession
from billstack.services.sessions.validation import PortalContext, validate_portal_token

__all__ = [
    "rate_limit_key",
    "AUDIT_CREATED",
    "AUDIT_REVOKED",
    "AFTER_COMPLETION_TYPES",
    "AFTER_HOSTED_CONFIRMATION",
    "AFTER_PORTAL_HOMEPAGE",
    "AFTER_REDIRECT",
    "CUSTOM_MESSAGE_MAX",
    "CUSTOMER_KEYS",
    "DEFAULT_LOCALE",
    "FLOW_PAYMENT_METHOD_UPDATE",
    "FLOW_SUBSCRIPTION_CANCEL",
    "FLOW_SUBSCRIPTION_UPDATE",
    "FLOW_SUBSCRIPTION_UPDATE_CONFIRM",
    "FLOW_TYPES",
    "LAST_USED_RESOLUTION",
    "SUBSCRIPTION_ID_PATTERN",
    "SUPPORTED_LOCALES",
    "TOKEN_ALGORITHM",
    "TOKEN_AUDIENCE",
    "TOKEN_EXPIRED",
    "TOKEN_INVALID",
    "TOKEN_REVOKED",
    "TOKEN_USED",
    "TTL_DEFAULT_MS",
    "TTL_MAX_MS",
    "TTL_MIN_MS",
    "CreatedSession",
    "DatabaseBusy",
    "PortalContext",
    "PortalTokenError",
    "ProjectFacts",
    "SessionRequest",
    "_last_used_written",  # tests/api/conftest.py clears it between tests
    "authenticate_api_key",
    "authenticate_project_key",
    "check_after_completion",
    "check_customer_keys",
    "check_flow",
    "check_return_url",
    "check_ttl_ms",
    "create_async",
    "create_committed",
    "create_portal_session",
    "decode_token",
    "encode_token",
    "is_subscription_id",
    "new_session_id",
    "project_id_from_token",
    "resolve_locale",
    "revoke_portal_session",
    "validate_portal_token",
]
