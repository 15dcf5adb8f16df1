"""What a caller asks for when it creates a session (`SessionRequest`), and the checks of
each field: lifetime, return URL, locale and deep link. No database access."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from billstack.config import origin_of
from billstack.errors import invalid
from billstack.i18n import AUTO_LOCALE, SUPPORTED_LOCALES, match_locale
from billstack.models import ApiKey, Project
from billstack.services.plan_catalog import QUANTITY_LIMIT, is_price_id
from billstack.services.tenants import allowed_return_origins, normalised_origin

TTL_DEFAULT_MS = 3_600_000
TTL_MIN_MS = 60_000
TTL_MAX_MS = 86_400_000

# A supported tag in any case (`pt_br` → `pt-BR`) or a regional form of one (`de-AT` → `de`)
# is stored as the portal's tag; a well-formed tag of another language is stored as `auto`
# (the customer's or browser's language, else English), so that passing the end user's
# browser language never breaks a portal link. Checked with fullmatch: `$` would also match
# before a final line break ("de\n").
_LOCALE_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*")

FLOW_PAYMENT_METHOD_UPDATE = "payment_method_update"
FLOW_SUBSCRIPTION_CANCEL = "subscription_cancel"
FLOW_SUBSCRIPTION_UPDATE = "subscription_update"
FLOW_SUBSCRIPTION_UPDATE_CONFIRM = "subscription_update_confirm"
FLOW_TYPES = (FLOW_PAYMENT_METHOD_UPDATE, FLOW_SUBSCRIPTION_CANCEL, FLOW_SUBSCRIPTION_UPDATE,
              FLOW_SUBSCRIPTION_UPDATE_CONFIRM)
# Each flow's fields besides `type`: required, then optional (canonical JSON keeps this order).
_FLOW_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    FLOW_PAYMENT_METHOD_UPDATE: ((), ()),
    FLOW_SUBSCRIPTION_CANCEL: (("subscriptionId",), ()),
    FLOW_SUBSCRIPTION_UPDATE: (("subscriptionId",), ()),
    FLOW_SUBSCRIPTION_UPDATE_CONFIRM: (("subscriptionId", "priceId"), ("quantity",)),
}
# Where a flow ends once its action is done (Stripe's `after_completion.type`); a flow
# stored without one (older rows) ends on the portal home, as before.
AFTER_PORTAL_HOMEPAGE = "portal_homepage"
AFTER_HOSTED_CONFIRMATION = "hosted_confirmation"
AFTER_REDIRECT = "redirect"
AFTER_COMPLETION_TYPES = (AFTER_PORTAL_HOMEPAGE, AFTER_HOSTED_CONFIRMATION, AFTER_REDIRECT)
CUSTOM_MESSAGE_MAX = 500  # Stripe's limit for `hosted_confirmation.custom_message`
# Each type's field besides `type` (`redirect`'s is required).
_AFTER_COMPLETION_FIELDS = {AFTER_PORTAL_HOMEPAGE: None, AFTER_HOSTED_CONFIRMATION: "customMessage",
                            AFTER_REDIRECT: "returnUrl"}
# Anchored for pydantic's `pattern=` (pydantic-core's Rust regex searches, and its `$` is
# the end of the text); Python checks use fullmatch, as Python's `$` also matches before
# a final line break.
SUBSCRIPTION_ID_PATTERN = r"^sub_[A-Za-z0-9_]{1,250}$"
_SUBSCRIPTION_ID = re.compile(SUBSCRIPTION_ID_PATTERN)


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """One session creation as asked for, before any check.

    `api_key`: the plaintext key from `Authorization: Bearer …` (authenticated in the same
    query that loads the project and the customer), an already authenticated `ApiKey`
    (checked again there: revoked → 401), or None for operator tooling.

    The customer: exactly one of `customer_id` (`pc_…`, the hot path), `external_id` (the
    SaaS's own user id) or `stripe_customer_id` (`cus_…`, linked on the fly). `team_id` and
    `project_id` None: the project the plaintext key belongs to (Stripe-compatible endpoint).
    Anything but a `customer_id` in a named project is resolved first (customer_keys.py).
    """

    team_id: str | None
    project_id: str | None
    api_key: str | ApiKey | None
    customer_id: str | None
    ttl_ms: int | None = None
    return_url: str | None = None
    locale: str | None = None
    flow: dict[str, Any] | None = None
    client_ip: str | None = None
    user_agent: str | None = None  # the caller's, for the audit row
    now: datetime | None = None
    # Set by creation.py only, when it runs a creation again after Stripe confirmed that
    # the deep link's subscription (not yet mirrored) is the customer's (flow_owner.py).
    subscription_verified: bool = False
    external_id: str | None = None
    stripe_customer_id: str | None = None
    # Set by creation.py only: the key's shared (Redis) bucket was spent before the database
    # was asked, so the unit of work does not spend it again.
    rate_counted: bool = False

    @property
    def needs_resolution(self) -> bool:
        """Not the hot path's shape (a `customerId` in a named project): see customer_keys.py."""
        return (self.customer_id is None or self.project_id is None or self.external_id is not None
                or self.stripe_customer_id is not None)


# The ways a session request names its customer, as the API spells them (exactly one is sent).
CUSTOMER_KEYS = ("customerId", "externalId", "stripeCustomerId")


def check_customer_keys(request: SessionRequest) -> None:
    """Exactly one of customerId, externalId, stripeCustomerId: none or several → 400 naming the field."""
    given = [name for name, value in zip(CUSTOMER_KEYS, (request.customer_id, request.external_id,
                                                         request.stripe_customer_id), strict=True)
             if value is not None]
    if not given:
        raise invalid("Missing required param: customerId (or send externalId or stripeCustomerId instead).",
                      param="customerId", code="parameter_missing")
    if len(given) > 1:
        raise invalid(f"Send exactly one of {', '.join(CUSTOMER_KEYS)}; got {' and '.join(given)}.",
                      param=given[1])


@dataclass(frozen=True)
class ProjectFacts:
    """The project settings session creation needs (duck-types `Project` for the checks)."""

    id: str
    team_id: str
    default_return_url: str | None
    allowed_return_origins: str
    feature_cancel: bool
    feature_payment_method_update: bool
    feature_plan_change: bool = False


def check_ttl_ms(ttl_ms: int | None) -> int:
    if ttl_ms is None:
        return TTL_DEFAULT_MS
    if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or not TTL_MIN_MS <= ttl_ms <= TTL_MAX_MS:
        raise invalid(
            f"ttlMs must be an integer number of milliseconds between {TTL_MIN_MS} (1 minute) "
            f"and {TTL_MAX_MS} (24 hours).",
            param="ttlMs",
        )
    return ttl_ms


def check_return_url(return_url: str | None, project: Project | ProjectFacts, *,
                     param: str = "returnUrl") -> str | None:
    """An http(s) URL without credentials, on an allowed origin when the project lists any.
    `param`: the field errors name (a flow's `afterCompletion.returnUrl` passes the same check)."""
    if return_url is None:
        return project.default_return_url
    message = f"{param} must be an absolute http(s) URL such as https://app.example.com/account."
    if not isinstance(return_url, str) or len(return_url) > 2000 or any(c.isspace() or ord(c) < 32 for c in return_url):
        raise invalid(message, param=param)
    try:
        parts = urlsplit(return_url)  # raises for a malformed IPv6 host (`https://[::1/`)
        parts.port  # noqa: B018 - raises for a port that is no number or out of range
    except ValueError:
        raise invalid(message, param=param) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise invalid(message, param=param)
    allowed = {normalised_origin(o) for o in allowed_return_origins(project)}
    if allowed and origin_of(return_url) not in allowed:
        raise invalid(
            f"{param} is not on one of this project's allowed return origins.",
            param=param,
            code="return_url_not_allowed",
        )
    # No allowed origins listed: the default return URL's origin is the only one (a project
    # with neither accepts any http(s) URL, as the operator has said nothing about it).
    default_origin = normalised_origin(project.default_return_url) if project.default_return_url else None
    if not allowed and default_origin is not None and origin_of(return_url) != default_origin:
        raise invalid(
            f"{param} must be on the origin of this project's default return URL ({default_origin}); "
            "other origins must be listed in the project's allowed return origins.",
            param=param,
            code="return_url_not_allowed",
        )
    return return_url


def resolve_locale(locale: str | None) -> str:
    """What a session stores: `de`, `de-AT`, `DE_at` → `de`; `pt_br` → `pt-BR`; absent,
    `auto` or a well-formed tag of a language the portal lacks → `auto` (picked per page load,
    services/sessions/locales.py); anything else is a 400 listing the supported tags."""
    if locale is None or locale == "" or (isinstance(locale, str) and locale.lower() == AUTO_LOCALE):
        return AUTO_LOCALE
    if not isinstance(locale, str) or len(locale) > 35 or not _LOCALE_TAG.fullmatch(locale):
        raise invalid(
            "locale must be auto or a language tag such as en, de or pt-BR (supported: auto, "
            + ", ".join(SUPPORTED_LOCALES) + ").",
            param="locale",
        )
    return match_locale(locale) or AUTO_LOCALE


def check_flow(flow: dict[str, Any] | None, project: Project | ProjectFacts) -> str | None:
    """The deep link as canonical JSON (`{"type": …, "subscriptionId": …}`), or None.
    Shape and feature switches only: whose the subscription is (flow_owner.py) and whether
    the project offers the price (`flow_price_id`) are checked by the caller."""
    if flow is None:
        return None
    if not isinstance(flow, dict) or flow.get("type") not in FLOW_TYPES:
        raise invalid(f"flow.type must be one of {', '.join(FLOW_TYPES)}.", param="flow.type")
    kind = flow["type"]
    required, optional = _FLOW_FIELDS[kind]
    flow = {name: value for name, value in flow.items() if value is not None or name not in optional}
    after = flow.pop("afterCompletion", None)
    if kind == FLOW_PAYMENT_METHOD_UPDATE and set(flow) != {"type"}:
        raise invalid("A payment_method_update flow takes no other fields.", param="flow")
    _check_flow_fields(flow, kind, required, optional)
    _check_flow_feature(kind, project)
    canonical = {"type": kind, **{name: flow[name] for name in (*required, *optional) if name in flow}}
    if after is not None:
        canonical["afterCompletion"] = check_after_completion(after, project)
    return json.dumps(canonical)


def check_after_completion(after: object, project: Project | ProjectFacts) -> dict[str, str]:
    """A flow's `afterCompletion` in canonical form (`type` first, then its one field), or a
    400 naming the field. The redirect's URL passes the session `returnUrl`'s own check, so a
    flow can send the customer nowhere a return link could not."""
    if not isinstance(after, dict) or after.get("type") not in AFTER_COMPLETION_TYPES:
        raise invalid(f"flow.afterCompletion.type must be one of {', '.join(AFTER_COMPLETION_TYPES)}.",
                      param="flow.afterCompletion.type")
    kind = after["type"]
    field = _AFTER_COMPLETION_FIELDS[kind]
    unknown = sorted(set(after) - {"type", field})
    if unknown:
        raise invalid(f"An afterCompletion of type {kind} takes no field {shown(unknown[0])}.",
                      param=f"flow.afterCompletion.{unknown[0]}"[:100])
    value = after.get(field) if field else None
    if kind == AFTER_HOSTED_CONFIRMATION:
        message = _custom_message(value)
        return {"type": kind, "customMessage": message} if message else {"type": kind}
    if kind == AFTER_REDIRECT:
        param = "flow.afterCompletion.returnUrl"
        if value is None:
            raise invalid("A redirect afterCompletion needs returnUrl (an absolute http(s) URL).", param=param,
                          code="parameter_missing")
        return {"type": kind, "returnUrl": check_return_url(value, project, param=param)}  # type: ignore[dict-item]
    return {"type": kind}


def _custom_message(value: object) -> str | None:
    """The tenant's confirmation text: plain text of at most CUSTOM_MESSAGE_MAX characters
    (shown as text, never as markup); blank is none. Control characters other than line
    breaks and tabs are refused rather than shown as boxes."""
    param = "flow.afterCompletion.customMessage"
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > CUSTOM_MESSAGE_MAX:
        raise invalid(f"{param} must be text of at most {CUSTOM_MESSAGE_MAX} characters.", param=param)
    if any(ord(c) < 32 and c not in "\n\t" or 0x7F <= ord(c) < 0xA0 for c in value):
        raise invalid(f"{param} must not contain control characters.", param=param)
    return value.strip() or None


def _check_flow_fields(flow: dict[str, Any], kind: str, required: tuple[str, ...], optional: tuple[str, ...]) -> None:
    if "subscriptionId" in required and not is_subscription_id(flow.get("subscriptionId")):
        raise invalid(f"A {kind} flow needs subscriptionId (sub_…).", param="flow.subscriptionId")
    if "priceId" in required and not is_price_id(flow.get("priceId")):
        raise invalid(f"A {kind} flow needs priceId (price_…).", param="flow.priceId")
    quantity = flow.get("quantity")
    if "quantity" in flow and (isinstance(quantity, bool) or not isinstance(quantity, int)
                               or not 1 <= quantity <= QUANTITY_LIMIT):
        raise invalid(f"flow.quantity must be a whole number from 1 to {QUANTITY_LIMIT}.", param="flow.quantity")
    unknown = sorted(set(flow) - {"type", *required, *optional})
    if unknown:
        raise invalid(f"A {kind} flow takes no field {shown(unknown[0])}.", param=f"flow.{unknown[0]}"[:100])


def _check_flow_feature(kind: str, project: Project | ProjectFacts) -> None:
    if kind == FLOW_PAYMENT_METHOD_UPDATE:
        on, what = project.feature_payment_method_update, "Payment method updates are"
    elif kind == FLOW_SUBSCRIPTION_CANCEL:
        on, what = project.feature_cancel, "Cancelling subscriptions is"
    else:
        on, what = project.feature_plan_change, "Plan changes are"
    if not on:
        raise invalid(f"{what} turned off for this project.", param="flow.type", code="feature_disabled")


def flow_price_id(flow: dict[str, Any] | None) -> str | None:
    """The price a checked deep link asks to confirm (`subscription_update_confirm`), or None."""
    if flow is None or flow.get("type") != FLOW_SUBSCRIPTION_UPDATE_CONFIRM:
        return None
    return flow["priceId"]


def is_subscription_id(value: object) -> bool:
    """A Stripe subscription id (`sub_…`) in shape; says nothing of whose it is."""
    return isinstance(value, str) and _SUBSCRIPTION_ID.fullmatch(value) is not None


def shown(value: object) -> str:
    """A caller-given id as quoted in an error message: at most 64 characters."""
    text = value if isinstance(value, str) else str(value)
    return repr(text[:64])
