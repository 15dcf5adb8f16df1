"""Teams, projects and API keys: what an operator sets up before any portal session."""

from __future__ import annotations

import re
import secrets

from cryptography.fernet import InvalidToken
from sqlmodel import Session, select

from billstack import stripe_gateway
from billstack.clock import utcnow
from billstack.errors import api_param, invalid, not_found
from billstack.ids import new_id
from billstack.models import ApiKey, PlanPrice, Project, Team
from billstack.secrets_box import digest, seal, unseal
from billstack.services import audit, cancel_settings, plan_catalog
from billstack.services.setting_checks import (
    check_colour,
    check_email,
    check_frame_ancestors,
    check_http_url,
    check_link_binding,
    check_logo_url,
    check_origin,
    normalised_origin,
    private_host_of,
)
from billstack.services.views import CUSTOMER_UPDATE_FIELDS

API_KEY_PREFIX = "bsk_"
# Project fields an operator may change with `project update`, besides secrets.
BRANDING_FIELDS = (
    "name",
    "display_name",
    "logo_url",
    "accent_color",
    "support_email",
    "support_url",
    "terms_url",
    "privacy_url",
    "default_return_url",
    "frame_ancestors",
)
FEATURE_FIELDS = (
    "feature_cancel",
    "feature_resume",
    "feature_invoice_history",
    "feature_payment_method_update",
    "feature_plan_change",
    "feature_quantity_change",
    "feature_payment_method_remove",
    "feature_pause",
    "feature_promotion_code",
)
# browser | none: whether a portal link is bound to the first browser that opens it.
LINK_BINDING_OPTION = "link_binding"
# Billing details customers may edit (Stripe's `customer_update.allowed_updates`), "" for none.
CUSTOMER_UPDATE_OPTION = "customer_update_fields"
# The project's plan prices (a list of price ids, checked with Stripe): its PlanPrice rows.
PLAN_CHANGE_PRICES = "plan_change_prices"
# Links shown to customers (the logo has its own, stricter rule: `check_logo_url`).
_LINK_URL_FIELDS = ("support_url", "terms_url", "privacy_url", "default_return_url")


# The operators' audit rows, in the one shape `audit` owns (customers, webhooks and
# backfill import it under this name).
record_audit = audit.record_action


def list_teams(db: Session) -> list[Team]:
    return list(db.exec(select(Team).order_by(Team.created_at, Team.id)))


def list_projects(db: Session, team_id: str | None = None) -> list[Project]:
    query = select(Project)
    if team_id is not None:
        get_team(db, team_id)
        query = query.where(Project.team_id == team_id)
    return list(db.exec(query.order_by(Project.created_at, Project.id)))


def create_team(db: Session, *, name: str) -> Team:
    name = _required_text(name, "name")
    team = Team(id=new_id("team"), name=name)
    db.add(team)
    db.flush()
    return team


def get_team(db: Session, team_id: str) -> Team:
    team = db.get(Team, team_id)
    if team is None:
        raise not_found(f"No team with id {team_id!r}.", param="team")
    return team


def create_project(
    db: Session,
    *,
    team_id: str,
    name: str,
    stripe_secret_key: str,
    stripe_api_base: str | None = None,
    webhook_secret: str | None = None,
    verify_stripe: bool = False,
    **options: object,
) -> Project:
    """`verify_stripe`: before anything is stored, one cheap Stripe call with the key and API
    base (stripe_gateway.check_credentials), so a key or base that cannot work is refused now,
    naming the URL, rather than at the first customer."""
    get_team(db, team_id)
    name = _required_text(name, "name")
    stripe_secret_key = _check_stripe_secret_key(stripe_secret_key)
    if stripe_api_base:
        stripe_api_base = check_http_url(stripe_api_base.strip(), "stripe_api_base")
    if webhook_secret:
        webhook_secret = _check_webhook_secret(webhook_secret)
    project = Project(
        id=new_id("proj"),
        team_id=team_id,
        name=name,
        stripe_secret_key_sealed=seal(stripe_secret_key),
        stripe_api_base=stripe_api_base or None,
        webhook_secret_sealed=seal(webhook_secret) if webhook_secret else None,
    )
    price_ids = options.pop(PLAN_CHANGE_PRICES, None)
    coupon = options.pop(cancel_settings.RETENTION_COUPON, None)
    _apply_options(project, options)
    if verify_stripe:
        stripe_gateway.check_credentials(stripe_secret_key, project.stripe_api_base)
    plan_prices = _described_plan_prices(project, price_ids)
    if coupon is not None:  # asked of Stripe before the flush, like the plan prices
        cancel_settings.set_retention_coupon(project, cancel_settings.describe_coupon(project, coupon))
    db.add(project)
    db.flush()
    record_audit(db, "project.created", project_id=project.id, team_id=team_id)
    if plan_prices is not None:
        plan_catalog.replace_plan_prices(db, project, plan_prices)
    return project


def get_project(db: Session, project_id: str) -> Project:
    project = db.get(Project, project_id)
    if project is None:
        raise not_found(f"No project with id {project_id!r}.", param="project")
    return project


def update_project(
    db: Session,
    project_id: str,
    *,
    stripe_secret_key: str | None = None,
    stripe_api_base: str | None = None,
    webhook_secret: str | None = None,
    verify_stripe: bool = False,
    **options: object,
) -> Project:
    """`verify_stripe`: when the key or the API base changes, check the pair that results with
    one cheap Stripe call before anything is stored (see `create_project`)."""
    project = get_project(db, project_id)
    price_ids = options.pop(PLAN_CHANGE_PRICES, None)
    coupon = options.pop(cancel_settings.RETENTION_COUPON, None)
    changed: list[str] = []
    if stripe_secret_key is not None:
        project.stripe_secret_key_sealed = seal(_check_stripe_secret_key(stripe_secret_key))
        changed.append("stripe_secret_key")
    if stripe_api_base is not None:
        stripe_api_base = stripe_api_base.strip()
        project.stripe_api_base = check_http_url(stripe_api_base, "stripe_api_base") if stripe_api_base else None
        changed.append("stripe_api_base")
    if webhook_secret is not None:
        webhook_secret = webhook_secret.strip()
        project.webhook_secret_sealed = seal(_check_webhook_secret(webhook_secret)) if webhook_secret else None
        changed.append("webhook_secret")
    _apply_options(project, options)
    if verify_stripe and {"stripe_secret_key", "stripe_api_base"} & set(changed):
        stripe_gateway.check_credentials(unseal(project.stripe_secret_key_sealed), project.stripe_api_base)
    changed += [field for field, value in options.items() if value is not None]
    plan_prices = _described_plan_prices(project, price_ids)
    if coupon is not None:  # asked of Stripe before the flush, like the plan prices
        cancel_settings.set_retention_coupon(project, cancel_settings.describe_coupon(project, coupon))
        changed.append(cancel_settings.RETENTION_COUPON)
    db.add(project)
    db.flush()
    if plan_prices is not None:
        plan_catalog.replace_plan_prices(db, project, plan_prices)
        changed.append(PLAN_CHANGE_PRICES)
    if changed:
        record_audit(db, "project.updated", project_id=project.id, fields=sorted(changed))
    return project


def _described_plan_prices(project: Project, price_ids: object) -> list[PlanPrice] | None:
    """The new plan prices as Stripe describes them, asked before anything is flushed (no write
    lock held while Stripe answers); None when the caller gave no list (`[]` clears it)."""
    if price_ids is None:
        return None
    ids = price_ids if isinstance(price_ids, list | tuple) else str(price_ids).split()
    return plan_catalog.described_prices(project, [str(price_id) for price_id in ids])


def stripe_mode(project: Project) -> str:
    """`test` or `live` (from the key's prefix), for display; the key itself is never shown.

    `unreadable` when the sealed key no longer opens (BILLSTACK_SECRET_KEY changed
    without keeping the old one in BILLSTACK_SECRET_KEY_PREVIOUS).
    """
    try:
        key = unseal(project.stripe_secret_key_sealed)
    except RuntimeError as exc:
        if isinstance(exc.__cause__, InvalidToken):
            return "unreadable"
        raise
    return "live" if "_live_" in key[:8] else "test"


def allowed_return_origins(project: Project) -> list[str]:
    return [origin for origin in project.allowed_return_origins.split() if origin]


def _apply_options(project: Project, options: dict[str, object]) -> None:
    for field, value in options.items():
        if value is None:
            continue
        if field == "allowed_return_origins":
            origins = value if isinstance(value, list | tuple) else str(value).split()
            checked = [check_origin(str(o).strip()) for o in origins if str(o).strip()]
            project.allowed_return_origins = " ".join(dict.fromkeys(checked))
        elif field in FEATURE_FIELDS:
            setattr(project, field, bool(value))
        elif field == LINK_BINDING_OPTION:
            project.link_binding = check_link_binding(str(value))
        elif field == CUSTOMER_UPDATE_OPTION:
            project.customer_update_fields = ",".join(_check_customer_update_fields(value))
        elif field in plan_catalog.SETTING_FIELDS:
            plan_catalog.apply_setting(project, field, value)
        elif field in cancel_settings.SETTING_FIELDS:
            cancel_settings.apply_setting(project, field, value)
        elif field in BRANDING_FIELDS:
            text = str(value).strip()
            if field == "logo_url" and text:
                check_logo_url(text)
            if field in _LINK_URL_FIELDS and text:
                check_http_url(text, field)
            if field == "accent_color":
                check_colour(text)
                text = text.lower()
            if field == "support_email" and text:
                check_email(text, field, example="support@example.com")
            if field == "frame_ancestors":
                text = check_frame_ancestors(text)
            if field == "display_name" and len(text) > 200:
                raise invalid("displayName is longer than 200 characters.", param=api_param(field))
            if field == "name":
                text = _required_text(text, "name")
            required = field in ("name", "accent_color", "frame_ancestors")
            setattr(project, field, text if required else (text or None))
        else:
            raise invalid(f"Unknown project option {field!r}.", param=api_param(field))
    plan_catalog.check_quantity_range(project, min_given=options.get("quantity_min") is not None)
    cancel_settings.check_combination(project, proration_given=options.get("cancel_proration") is not None)


def _check_customer_update_fields(value: object) -> list[str]:
    """Comma-separated (or a list), in the portal form's order; a repeat counts once; "" = none."""
    names = value if isinstance(value, list | tuple) else str(value).split(",")
    given = [str(name).strip().lower() for name in names if str(name).strip()]
    if unknown := [name for name in dict.fromkeys(given) if name not in CUSTOMER_UPDATE_FIELDS]:
        raise invalid(f"customerUpdateFields: unknown field(s) {', '.join(map(repr, unknown))}; choose from "
                      f"{','.join(CUSTOMER_UPDATE_FIELDS)} (comma-separated, or '' for none).",
                      param=api_param(CUSTOMER_UPDATE_OPTION))
    return [name for name in CUSTOMER_UPDATE_FIELDS if name in given]


def create_api_key(db: Session, *, project_id: str) -> tuple[ApiKey, str]:
    """Returns the stored key and its plaintext, which is shown once and never again."""
    get_project(db, project_id)
    plaintext = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(
        id=new_id("key"),
        project_id=project_id,
        key_hash=digest(plaintext),
        prefix=plaintext[:12],
    )
    db.add(api_key)
    db.flush()
    record_audit(db, "api_key.created", project_id=project_id, api_key_id=api_key.id)
    return api_key, plaintext


def revoke_api_key(db: Session, key_id: str) -> ApiKey:
    api_key = db.get(ApiKey, key_id)
    if api_key is None:
        raise not_found(f"No API key with id {key_id!r}.", param="key")
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        db.add(api_key)
        db.flush()
        record_audit(db, "api_key.revoked", project_id=api_key.project_id, api_key_id=api_key.id)
    return api_key


def list_api_keys(db: Session, project_id: str) -> list[ApiKey]:
    get_project(db, project_id)
    return list(db.exec(select(ApiKey).where(ApiKey.project_id == project_id).order_by(ApiKey.created_at)))


def _required_text(value: str | None, param: str) -> str:
    text = (value or "").strip()
    param = api_param(param)
    if not text:
        raise invalid(f"{param} must not be empty.", param=param)
    if len(text) > 200:
        raise invalid(f"{param} is longer than 200 characters.", param=param)
    return text


# Messages about secrets never quote the value: it may be a real key pasted in the wrong place.
_STRIPE_KEY = re.compile(r"(sk|rk)_(test|live)_[A-Za-z0-9_]{8,}")
_WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=_-]{8,}")


def _check_stripe_secret_key(key: str | None) -> str:
    key = (key or "").strip()
    if _STRIPE_KEY.fullmatch(key):
        return key
    if key.startswith("pk_"):
        hint = " That is a publishable key (pk_…); BillStack needs the secret key."
    elif key.startswith("whsec_"):
        hint = " That is a webhook signing secret; pass it as the webhook secret instead."
    else:
        hint = ""
    raise invalid(
        "The Stripe secret key must look like sk_test_…, sk_live_…, rk_test_… or rk_live_… "
        "(letters and digits after the prefix)." + hint,
        param="stripeSecretKey",
    )


def _check_webhook_secret(secret: str) -> str:
    secret = secret.strip()
    if not _WEBHOOK_SECRET.fullmatch(secret):
        raise invalid(
            "The webhook signing secret must look like whsec_… (Stripe shows it on the webhook endpoint).",
            param="webhookSecret",
        )
    return secret
