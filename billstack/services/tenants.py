"""Teams, projects and API keys: what an operator sets up before any portal session."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from sqlmodel import Session, select

from billstack.clock import utcnow
from billstack.errors import invalid, not_found
from billstack.ids import new_id
from billstack.models import ApiKey, Project, Team
from billstack.secrets_box import digest, seal

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
    _check_stripe_secret_key(stripe_secret_key)
    if stripe_api_base is not None:
        _check_http_url(stripe_api_base, "stripe_api_base")
    project = Project(
        id=new_id("proj"),
        team_id=team_id,
        name=name,
        stripe_secret_key_sealed=seal(stripe_secret_key),
        stripe_api_base=stripe_api_base,
        webhook_secret_sealed=seal(webhook_secret) if webhook_secret else None,
    )
    _apply_options(project, options)
    db.add(project)
    db.flush()
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
    if stripe_secret_key is not None:
        _check_stripe_secret_key(stripe_secret_key)
        project.stripe_secret_key_sealed = seal(stripe_secret_key)
    if stripe_api_base is not None:
        project.stripe_api_base = _check_http_url(stripe_api_base, "stripe_api_base") if stripe_api_base else None
    if webhook_secret is not None:
        project.webhook_secret_sealed = seal(webhook_secret) if webhook_secret else None
    _apply_options(project, options)
    db.add(project)
    db.flush()
    return project


def allowed_return_origins(project: Project) -> list[str]:
    return [origin for origin in project.allowed_return_origins.split() if origin]


def _apply_options(project: Project, options: dict[str, object]) -> None:
    for field, value in options.items():
        if value is None:
            continue
        if field == "allowed_return_origins":
            origins = value if isinstance(value, list | tuple) else str(value).split()
            project.allowed_return_origins = " ".join(_check_origin(o) for o in origins)
        elif field in FEATURE_FIELDS:
            setattr(project, field, bool(value))
        elif field in BRANDING_FIELDS:
            text = str(value).strip()
            if field in _URL_FIELDS and text:
                _check_http_url(text, field)
            if field == "accent_color":
                _check_colour(text)
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
    return api_key, plaintext


def revoke_api_key(db: Session, key_id: str) -> ApiKey:
    api_key = db.get(ApiKey, key_id)
    if api_key is None:
        raise not_found(f"No API key with id {key_id!r}.", param="key")
    if api_key.revoked_at is None:
        api_key.revoked_at = utcnow()
        db.add(api_key)
        db.flush()
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


def _check_stripe_secret_key(key: str) -> None:
    if not key or not key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
        raise invalid(
            "The Stripe secret key must start with sk_test_, sk_live_, rk_test_ or rk_live_.",
            param="stripe_secret_key",
        )


def _check_http_url(url: str, param: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid(f"{param} must be an http(s) URL, got {url!r}.", param=param)
    return url


def _check_origin(origin: str) -> str:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise invalid(
            f"Allowed return origins look like https://app.example.com, got {origin!r}.",
            param="allowed_return_origins",
        )
    return f"{parts.scheme}://{parts.netloc}"


def _check_colour(value: str) -> None:
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        raise invalid("accent_color must look like #4f46e5.", param="accent_color")
