"""Session API (DESIGN.md §4.1): mint and revoke portal sessions with a project API key.

Thin: parse, authenticate, call one service, shape the answer. One unit of work per
request: one query for key + project + customer, the session and audit inserts, one commit.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response
from pydantic import ConfigDict, Field, StrictInt

from api_routes.deps import ProjectAuth, api_key_from_header, client_ip, parse_body
from api_routes.schemas import RequestBody, ResponseBody, error_responses
from billstack import routes
from billstack.clock import to_iso_z
from billstack.services import sessions
from billstack.services.plan_catalog import PRICE_ID_PATTERN, QUANTITY_LIMIT
from billstack.services.views import ISO_Z_PATTERN

router = APIRouter(prefix=routes.API_PREFIX, tags=["Portal sessions"])


class AfterCompletion(RequestBody):
    """Where the flow ends once its action is done (Stripe's `after_completion`)."""

    type: Literal["portal_homepage", "hosted_confirmation", "redirect"] = Field(
        description="`portal_homepage` (default): the whole portal; `hosted_confirmation`: a confirmation page "
        "with `customMessage` (or a generic text) and the way back to your app; `redirect`: the browser goes to "
        "`returnUrl`.")
    custom_message: str | None = Field(
        default=None, max_length=sessions.CUSTOM_MESSAGE_MAX, examples=["Thanks! Your plan is updated."],
        description=f"Only with `hosted_confirmation`: plain text (never HTML), at most "
        f"{sessions.CUSTOM_MESSAGE_MAX} characters.")
    return_url: str | None = Field(
        default=None, max_length=2000, examples=["https://myapp.com/account?updated=1"],
        description="Required with `redirect` (only there): an absolute http(s) URL that passes the same "
        "allowed-origins check as the session's `returnUrl` (400 `return_url_not_allowed` otherwise).")


_AFTER_COMPLETION_DESCRIPTION = "Where the flow ends once its action is done; default `portal_homepage`."


class PaymentMethodUpdateFlow(RequestBody):
    """Open the portal straight on "Update payment method"."""

    type: Literal["payment_method_update"]
    after_completion: AfterCompletion | None = Field(default=None, description=_AFTER_COMPLETION_DESCRIPTION)


class SubscriptionCancelFlow(RequestBody):
    """Open the portal straight on the cancel dialog of one of the customer's subscriptions."""

    type: Literal["subscription_cancel"]
    subscription_id: str = Field(pattern=sessions.SUBSCRIPTION_ID_PATTERN, examples=["sub_1OaBcDeFgHiJkLmN"],
                                 description="A Stripe subscription id (`sub_…`) of this customer. Unknown or "
                                 "another customer's: 400 naming `flow.subscriptionId` (a subscription not mirrored "
                                 "yet is looked up in Stripe).")
    after_completion: AfterCompletion | None = Field(default=None, description=_AFTER_COMPLETION_DESCRIPTION)


_SUBSCRIPTION_ID_DESCRIPTION = ("A Stripe subscription id (`sub_…`) of this customer. Unknown or another customer's: "
                                "400 naming `flow.subscriptionId` (a subscription not mirrored yet is looked up in "
                                "Stripe).")


class SubscriptionUpdateFlow(RequestBody):
    """Open the portal straight on the plan picker of one of the customer's subscriptions
    (Stripe's `subscription_update`). Needs plan changes on (else 400 `feature_disabled`)."""

    type: Literal["subscription_update"]
    subscription_id: str = Field(pattern=sessions.SUBSCRIPTION_ID_PATTERN, examples=["sub_1OaBcDeFgHiJkLmN"],
                                 description=_SUBSCRIPTION_ID_DESCRIPTION)
    after_completion: AfterCompletion | None = Field(default=None, description=_AFTER_COMPLETION_DESCRIPTION)


class SubscriptionUpdateConfirmFlow(RequestBody):
    """Open the portal straight on the confirmation (with Stripe's proration preview) of a
    switch to one price (Stripe's `subscription_update_confirm`). Needs plan changes on."""

    type: Literal["subscription_update_confirm"]
    subscription_id: str = Field(pattern=sessions.SUBSCRIPTION_ID_PATTERN, examples=["sub_1OaBcDeFgHiJkLmN"],
                                 description=_SUBSCRIPTION_ID_DESCRIPTION)
    price_id: str = Field(pattern=PRICE_ID_PATTERN, examples=["price_1OaBcDeFgHiJkLmN"],
                          description="The price to switch to: one of the project's plan-change prices "
                          "(`project update --plan-change-price`), else 400 naming `flow.priceId`.")
    quantity: StrictInt | None = Field(default=None, ge=1, le=QUANTITY_LIMIT, examples=[3],
                                       description="The new quantity, a JSON integer from 1 to "
                                       f"{QUANTITY_LIMIT}; default: the subscription's current quantity.")
    after_completion: AfterCompletion | None = Field(default=None, description=_AFTER_COMPLETION_DESCRIPTION)


Flow = Annotated[
    PaymentMethodUpdateFlow | SubscriptionCancelFlow | SubscriptionUpdateFlow | SubscriptionUpdateConfirmFlow,
    Field(discriminator="type"),
]


class CreatePortalSessionRequest(RequestBody):
    # OpenAPI: exactly one of the three customer keys (checked by the service: 400 naming the field).
    model_config = ConfigDict(**RequestBody.model_config, json_schema_extra={
        "oneOf": [{"required": [name]} for name in sessions.CUSTOMER_KEYS]})

    # Exactly one of the three (none or several: 400 naming the field).
    customer_id: str | None = Field(default=None, min_length=1, max_length=64, examples=["pc_7Hq2LmX9aBcDeFgHiJkL"],
                                    description="BillStack customer id (`pc_…`) of this project. Send exactly one "
                                    "of `customerId`, `externalId` and `stripeCustomerId`.")
    external_id: str | None = Field(default=None, min_length=1, max_length=200, examples=["user_42"],
                                    description="Your own id of the customer (set when the customer was created "
                                    "or linked). Unknown: 404 naming `externalId`.")
    stripe_customer_id: str | None = Field(default=None, min_length=1, max_length=255, examples=["cus_NffrFeUfNV2Hib"],
                                           description="The Stripe customer id (`cus_…`). Not linked to this "
                                           "project yet: linked on the fly (and its billing data loaded) when it "
                                           "exists in the project's Stripe account; otherwise 404 naming "
                                           "`stripeCustomerId`.")
    # Strict: a JSON integer only. "60000", 60000.0 and true are refused rather than converted.
    ttl_ms: StrictInt = Field(default=sessions.TTL_DEFAULT_MS, ge=sessions.TTL_MIN_MS, le=sessions.TTL_MAX_MS,
                              examples=[3_600_000],
                              description="Session lifetime in milliseconds, a JSON integer: 60000 (1 minute) to "
                              "86400000 (24 hours); default 3600000 (1 hour).")
    return_url: str | None = Field(default=None, max_length=2000, examples=["https://myapp.com/account"],
                                   description="Where \"Return to the app\" goes: an absolute http(s) URL, on one of "
                                   "the project's allowed return origins when it sets any, else on the origin of its "
                                   "default return URL (400 `return_url_not_allowed` otherwise). Default: the "
                                   "project's default return URL.")
    locale: str | None = Field(default=None, max_length=35, examples=["en"],
                               description="Portal language: one of Stripe's portal locales (any case, `_` or "
                               "`-`: `pt_br` → `pt-BR`), a regional form of one (`de-AT` → `de`, `es-MX` → "
                               "`es-419`), or `auto`. `auto` (the default, and what a well-formed tag of a language "
                               "the portal lacks becomes) picks at each page load: the Stripe customer's "
                               "`preferred_locales`, then the browser's `Accept-Language`, then `en`. A malformed "
                               "value is a 400 listing these. Supported: `auto`, "
                               + ", ".join(f"`{code}`" for code in sessions.SUPPORTED_LOCALES) + ".")
    flow: Flow | None = Field(default=None, description="Optional deep link: the portal opens on that action.")


class PortalSessionCreated(ResponseBody):
    session_id: str = Field(examples=["portal_sess_abc123"])
    token: str = Field(description="The portal token (a signed JWT). Keep it secret: it grants access to the "
                       "customer's portal until it expires or is revoked.")
    portal_url: str = Field(examples=["https://your-billstack.com/portal/eyJhbGciOi..."],
                            description="Redirect the customer here.")
    expires_at: str = Field(pattern=ISO_Z_PATTERN, examples=["2026-03-30T13:00:00Z"],
                            description="UTC, ISO-8601, whole seconds.")


class PortalSessionRevoked(ResponseBody):
    id: str = Field(examples=["portal_sess_abc123"])
    revoked: Literal[True] = True
    revoked_at: str = Field(pattern=ISO_Z_PATTERN, examples=["2026-03-30T12:30:00Z"],
                            description="When the session was revoked (the first time, if revoked again).")


_ERRORS = error_responses({
    400: "Invalid body or parameter (`param` names the field).",
    401: "Missing, malformed, unknown or revoked API key.",
    403: "The key is valid but not for this team and project.",
    404: "No such customer (or session) in this project.",
    429: "Rate limited; see `Retry-After`.",
})

_CREATE_DESCRIPTION = """
Mints a short-lived portal session for one customer and returns the URL to redirect
them to. The customer is named by exactly one of `customerId` (`pc_…`), `externalId`
(your own user id) or `stripeCustomerId` (`cus_…`, linked on the fly if new to the
project); nothing else is required.

- Body: JSON (`Content-Type: application/json`, at most 16 KiB; otherwise 415 / 413).
- **Unknown fields are refused** with 400 `parameter_unknown` (`param` names the field),
  so a typo such as `ttl_ms` or `return_url` cannot silently fall back to a default.
- `locale`: see the field; unsupported languages fall back to `en`.
- `flow`: `{"type": "payment_method_update"}`,
  `{"type": "subscription_cancel", "subscriptionId": "sub_…"}`,
  `{"type": "subscription_update", "subscriptionId": "sub_…"}` (the plan picker) or
  `{"type": "subscription_update_confirm", "subscriptionId": "sub_…", "priceId": "price_…",
  "quantity": 3}` (the confirmation of that change; `quantity` optional). A flow for a
  feature the project turned off is a 400 `feature_disabled`; a subscription that is not
  the customer's is a 400 naming `flow.subscriptionId`, a price the project does not offer
  for plan changes a 400 naming `flow.priceId`. Every flow takes an optional `afterCompletion`
  (Stripe's `after_completion`): `{"type": "portal_homepage"}` (default),
  `{"type": "hosted_confirmation", "customMessage": "…"}` (≤ 500 characters, plain text) or
  `{"type": "redirect", "returnUrl": "https://…"}` (required, on an allowed return origin).
  While a flow is open the portal shows only the flow's subject.
- Rate limited per API key (429 with `Retry-After`).
"""


@router.post(
    routes.PORTAL_SESSIONS_ROUTE,
    response_model=PortalSessionCreated,
    responses=_ERRORS,  # 413 and 415: api_routes/__init__.py, from the body limits
    summary="Create a portal session",
    description=_CREATE_DESCRIPTION,
    operation_id="createPortalSession",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreatePortalSessionRequest"}}},
        },
        "security": [{"ProjectApiKey": []}],
    },
)
async def create_portal_session(
    teamId: str,
    projectId: str,
    request: Request,
) -> Response:
    # Served by api_routes/fast_paths.py in front of the framework stack whenever the app
    # runs under `billstack serve`; this route documents the operation and serves it
    # wherever the API is mounted without that front (same code: create_session_json).
    payload = await create_session_json(
        teamId, projectId, request.headers.get("authorization"), await request.body(), client_ip(request),
        request.headers.get("user-agent"),
    )
    return Response(payload, media_type="application/json")


async def create_session_json(
    team_id: str, project_id: str, authorization: str | None, body: bytes, client_ip: str | None,
    user_agent: str | None = None,
) -> bytes:
    """The whole operation on raw inputs: header and body parsed here (pydantic validates
    the body in one call; the model is still what OpenAPI documents), one service call,
    the answer as JSON bytes. Errors are raised as BillStackError (401, 400, 403, 404, 429).
    Where the unit of work runs (event loop or worker thread) is the service's call, see
    `sessions.create_async`."""
    api_key = api_key_from_header(authorization)
    request = parse_body(CreatePortalSessionRequest, body)
    created = await sessions.create_async(sessions.SessionRequest(
        team_id=team_id,
        project_id=project_id,
        api_key=api_key,
        customer_id=request.customer_id,
        external_id=request.external_id,
        stripe_customer_id=request.stripe_customer_id,
        ttl_ms=request.ttl_ms,
        return_url=request.return_url,
        locale=request.locale,
        flow=request.flow.model_dump(by_alias=True, exclude_none=True) if request.flow is not None else None,
        client_ip=client_ip,
        user_agent=user_agent,
    ))
    return PortalSessionCreated(
        session_id=created.session_id,
        token=created.token,
        portal_url=created.portal_url,
        expires_at=to_iso_z(created.expires_at),
    ).model_dump_json().encode()


@router.delete(
    routes.PORTAL_SESSION_ROUTE,
    response_model=PortalSessionRevoked,
    responses=_ERRORS,
    summary="Revoke a portal session",
    description="Revokes the session at once: its token stops working on the next request. "
    "Idempotent — revoking again answers 200 with the original `revokedAt`.",
    operation_id="revokePortalSession",
)
def revoke_portal_session(sessionId: str, project: ProjectAuth, request: Request) -> PortalSessionRevoked:  # noqa: N803
    user_agent = request.headers.get("user-agent")
    session = project.run(lambda db, key_id: sessions.revoke_portal_session(
        db, sessionId, project_id=project.project_id, api_key_id=key_id, actor="api", client_ip=project.client_ip,
        user_agent=user_agent,
    ))
    return PortalSessionRevoked(id=session.id, revoked_at=to_iso_z(session.revoked_at))  # type: ignore[arg-type]
