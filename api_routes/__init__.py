"""FastAPI app for BillStack's JSON API, handed to Reflex as `rx.App(api_transformer=create_api())`.

Reflex mounts its own backend under this app at "", so anything this app does not
route falls through to Reflex — except under /api/, where an unknown URL is a JSON
404/405 (see api_routes/errors.py). The routers are `ROUTERS`, included in that order
(a new router module is added there); that catch-all is added last.

Middleware (outermost first), all pure ASGI so Reflex's websocket passes untouched:
SecurityHeaders (every response), LinkBinding (the first load of /portal/<token> binds
the link to its browser; stands aside when FastPaths' own did it), UnexpectedErrors
(/api/… → JSON 500), JsonBodyLimits (413/415 on the JSON API).

`billstack serve` puts api_routes.fast_paths.FastPaths in front of the whole app: it
answers `POST …/portal` (session creation, the hot path) without entering these stacks,
with the same checks, answers and headers, and wraps everything else in SecurityHeaders
and JsonNotFound, so that Reflex's own answers (CORS preflights, static files, 404s) get
the headers and the error shape too; the inner SecurityHeaders then stands aside.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from api_routes import audit, customers, portal, portal_sessions, stripe_compat, webhooks
from api_routes.errors import UnexpectedErrors, add_api_fallback, install_error_handling
from api_routes.link_binding import LinkBinding
from api_routes.limits import BODY_METHODS, JsonBodyLimits, body_limit
from api_routes.portal_sessions import CreatePortalSessionRequest
from api_routes.schemas import ErrorResponse
from api_routes.security import SecurityHeaders
from billstack import routes
from billstack.config import get_settings

API_TITLE = "BillStack Portal API"
API_VERSION = "1.0.0"
API_DESCRIPTION = """
Self-hosted Stripe customer portal.

- **Session API** (`/api/billstack/…`, `Authorization: Bearer <project API key>`):
  mint a short-lived portal session and redirect the customer to its `portalUrl`.
- **Customers API** (`/api/billstack/…/customers`, same key): create, link, find and remove
  the project's customers (`pc_…`), by your own `externalId` or their `stripeCustomerId` too.
- **Portal API** (`/api/portal/{token}/…`): what the portal page itself uses,
  authenticated by the portal token.
- **Stripe-compatible** (`POST /v1/billing_portal/sessions`): Stripe's own portal-session
  endpoint for Stripe's SDKs, with a project API key as the secret key.
- **Stripe webhooks** (`/api/billstack/webhooks/stripe/{projectId}`): signed by Stripe
  (`Stripe-Signature`), keep BillStack's copy of the customer's billing data current.

Errors always have the shape `{"error": {"type", "code", "message", "param"}}`.
JSON bodies must be sent as `application/json` and are limited to 16 KiB (webhooks: 1 MiB).
"""
_ERROR_RESPONSE_REF = f"#/components/schemas/{ErrorResponse.__name__}"


# Every router of the API, in the order its operations are documented.
ROUTERS: tuple[APIRouter, ...] = (portal_sessions.router, customers.router, audit.router, portal.router,
                                  webhooks.router, stripe_compat.router)
# Bodies that hot routes parse themselves (see portal_sessions): documented here.
DOCUMENTED_BODIES = (CreatePortalSessionRequest,)


def _document_400_not_422(app: FastAPI) -> None:
    """Validation errors answer 400 in our error shape; drop FastAPI's default 422 docs.

    Also adds the schemas of request bodies that hot routes parse themselves, and the
    413/415 answers of the body limits (`_document_body_limits`).
    """
    def openapi() -> dict:
        schema = FastAPI.openapi(app)  # cached by FastAPI; the stripping below is idempotent
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        _document_body_limits(schema)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        for model in DOCUMENTED_BODIES:  # bodies parsed in the route rather than by FastAPI
            if model.__name__ not in schemas:
                body_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(body_schema.pop("$defs", {}))
                schemas[model.__name__] = body_schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_body_limits(schema: dict) -> None:
    """413 and 415 on every operation JsonBodyLimits guards, from its own table: a new
    route is documented without a word in its decorator, and with its own limit."""
    for path, operations in schema.get("paths", {}).items():
        max_bytes = body_limit(path)
        if max_bytes is None:
            continue
        for method, operation in operations.items():
            if method.upper() in BODY_METHODS:
                responses = operation.setdefault("responses", {})
                responses["413"] = _error_response(
                    f"The body is larger than {max_bytes} bytes (`request_too_large`).")
                responses["415"] = _error_response(
                    "The body is not declared as JSON: send `Content-Type: application/json` "
                    "(`unsupported_media_type`).")


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": _ERROR_RESPONSE_REF}}}}


def create_api() -> FastAPI:
    app = FastAPI(
        title=API_TITLE,
        version=API_VERSION,
        description=API_DESCRIPTION,
        openapi_url=routes.OPENAPI_PATH,
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    install_error_handling(app)
    for router in ROUTERS:
        app.include_router(router)
    add_api_fallback(app)
    _document_400_not_422(app)
    # add_middleware wraps: the last added is the outermost.
    app.add_middleware(JsonBodyLimits)
    app.add_middleware(UnexpectedErrors)
    app.add_middleware(LinkBinding, public_url_is_https=get_settings().public_url_is_https)
    app.add_middleware(SecurityHeaders)
    return app
