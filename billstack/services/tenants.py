"""Teams, projects and API keys: what an operator sets up before any portal session."""

from __future__ import annotations

import json
import re
import secrets
from urllib.parse import urlsplit

from cryptography.fernet import InvalidToken
from sqlmodel import Session, select

from billstack.clock import utcnow
from billstack.errors import invalid, not_found
from billstack.ids import new_id
from billstack.models import ApiKey, AuditEvent, Project, Team
from billstack.secrets_box import digest, seal, unseal

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
)
_URL_FIELDS = ("logo_url", "support_url", "terms_url", "privacy_url", "default_return_url")


def record_audit(db: Session, action: str, *, project_id: str | None = None, **detail: object) -> None:
    """Operator actions go to the audit log; `detail` carries ids and field names, never secrets."""
    ids = {k: detail.pop(k) for k in ("customer_id", "session_id", "api_key_id") if k in detail}
    db.add(
        AuditEvent(
            project_id=project_id,
            action=action,
            detail=json.dumps(detail, sort_keys=True) if detail else None,
            **ids,
        )
    )


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
    **options: object,
) -> Project:
    get_team(db, team_id)
    name = _required_text(name, "name")
    stripe_secret_key = _check_stripe_secret_key(stripe_secret_key)
    if stripe_api_base:
        stripe_api_base = _check_http_url(stripe_api_base.strip(), "stripe_api_base")
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
    _apply_options(project, options)
    db.add(project)
    db.flush()
    record_audit(db, "project.created", project_id=project.id, team_id=team_id)
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
    **options: object,
) -> Project:
    project = get_project(db, project_id)
    changed: list[str] = []
    if stripe_secret_key is not None:
        project.stripe_secret_key_sealed = seal(_check_stripe_secret_key(stripe_secret_key))
        changed.append("stripe_secret_key")
    if stripe_api_base is not None:
        stripe_api_base = stripe_api_base.strip()
        project.stripe_api_base = _check_http_url(stripe_api_base, "stripe_api_base") if stripe_api_base else None
        changed.append("stripe_api_base")
    if webhook_secret is not None:
        webhook_secret = webhook_secret.strip()
        project.webhook_secret_sealed = seal(_check_webhook_secret(webhook_secret)) if webhook_secret else None
        changed.append("webhook_secret")
    _apply_options(project, options)
    changed += [field for field, value in options.items() if value is not None]
    db.add(project)
    db.flush()
    if changed:
        record_audit(db, "project.updated", project_id=project.id, fields=sorted(changed))
    return project


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
            checked = [_check_origin(str(o).strip()) for o in origins if str(o).strip()]
            project.allowed_return_origins = " ".join(dict.fromkeys(checked))
        elif field in FEATURE_FIELDS:
            setattr(project, field, bool(value))
        elif field in BRANDING_FIELDS:
            text = str(value).strip()
            if field in _URL_FIELDS and text:
                _check_http_url(text, field)
            if field == "accent_color":
                _check_colour(text)
                text = text.lower()
            if field == "support_email" and text:
                check_email(text, field)
            if field == "frame_ancestors":
                text = _check_frame_ancestors(text)
            if field == "display_name" and len(text) > 200:
                raise invalid("display_name is longer than 200 characters.", param=field)
            if field == "name":
                text = _required_text(text, "name")
            required = field in ("name", "accent_color", "frame_ancestors")
            setattr(project, field, text if required else (text or None))
        else:
            raise invalid(f"Unknown project option {field!r}.", param=field)


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


def find_api_key(db: Session, plaintext: str) -> ApiKey | None:
    """Hash lookup: keys are high-entropy, so SHA-256 needs no per-request KDF.

    The index lookup is on the digest, so timing reveals nothing about the key.
    """
    if not plaintext.startswith(API_KEY_PREFIX) or len(plaintext) > 200:
        return None
    return db.exec(select(ApiKey).where(ApiKey.key_hash == digest(plaintext))).first()


def list_api_keys(db: Session, project_id: str) -> list[ApiKey]:
    get_project(db, project_id)
    return list(db.exec(select(ApiKey).where(ApiKey.project_id == project_id).order_by(ApiKey.created_at)))


def _required_text(value: str | None, param: str) -> str:
    text = (value or "").strip()
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
        param="stripe_secret_key",
    )


def _check_webhook_secret(secret: str) -> str:
    secret = secret.strip()
    if not _WEBHOOK_SECRET.fullmatch(secret):
        raise invalid(
            "The webhook signing secret must look like whsec_… (Stripe shows it on the webhook endpoint).",
            param="webhook_secret",
        )
    return secret


def _check_http_url(url: str, param: str) -> str:
    parts = urlsplit(url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() or c in "<>\"" for c in url)
        or len(url) > 2000
    ):
        raise invalid(f"{param} must be an http(s) URL, got {url!r}.", param=param)
    return url


def check_email(value: str, param: str) -> str:
    if len(value) > 320 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise invalid(f"{param} must be an email address, got {value!r}.", param=param)
    return value


# A CSP source: 'self', 'none', a scheme (https:), or a host with optional scheme, *. and port.
_CSP_SOURCE = re.compile(r"(https?://)?(\*\.)?[A-Za-z0-9.-]+(:(\d{1,5}|\*))?|https?:|'self'")


def _check_frame_ancestors(value: str) -> str:
    """The value goes verbatim into a Content-Security-Policy header: no `;`, no newlines."""
    sources = value.split()
    if sources == ["'none'"]:
        return "'none'"
    if not sources or not all(_CSP_SOURCE.fullmatch(s) for s in sources):
        raise invalid(
            "frame_ancestors must be 'none', or sources like 'self' https://app.example.com "
            f"(space-separated), got {value!r}.",
            param="frame_ancestors",
        )
    return " ".join(sources)


def _check_origin(origin: str) -> str:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise invalid(
            f"allowed_return_origins must be origins like https://app.example.com (no path), got {origin!r}.",
            param="allowed_return_origins",
        )
    return f"{parts.scheme}://{parts.netloc}"


def _check_colour(value: str) -> None:
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        raise invalid("accent_color must look like #4f46e5.", param="accent_color")
