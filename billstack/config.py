"""Settings from BILLSTACK_* environment variables (and `.env`), with embedded defaults.

Every setting has a safe default for a laptop: a SQLite file in the data folder,
in-process Reflex state and local URLs. Production refuses to start without an
explicit secret key.
"""

from __future__ import annotations

import logging
import os
import secrets
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from billstack.private_files import private_dir

log = logging.getLogger("billstack.config")

SECRET_KEY_FILE = "secret_key"


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message says which and how to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BILLSTACK_", env_file=".env", extra="ignore", frozen=True
    )

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str | None = None
    secret_key: str | None = Field(default=None, repr=False)
    secret_key_previous: str | None = Field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    # Browser origins, besides the public URL's, allowed to call the API (comma-separated).
    cors_origins: str = ""
    # Server worker processes; in-process Reflex state needs 1 (more need REFLEX_REDIS_URL).
    workers: int = 1
    # Default Stripe API base for projects that set none (None = api.stripe.com).
    stripe_api_base: str | None = None
    # Limits on the session API and on failed portal-token validations.
    rate_limit_sessions_per_minute: int = 600
    rate_limit_token_failures_per_minute: int = 30
    # Portal actions (cancel/resume, card update) per portal session and minute.
    rate_limit_portal_actions_per_minute: int = 30
    # Mirror older than this (seconds) is refreshed from Stripe in the background.
    sync_max_age: int = 60
    # Portal work that may wait on Stripe (services/portal_calls.py): its own threads, at
    # most this many calls in flight per project, this many more waiting for a thread.
    stripe_threads: int = Field(default=32, ge=1)
    stripe_concurrency_per_project: int = Field(default=8, ge=1)
    stripe_queue: int = Field(default=64, ge=0)
    # Seconds one Stripe request may take before it is given up (503, nothing changed).
    stripe_timeout_s: float = Field(default=10.0, gt=0)
    # Database connection pool: connections kept, extra ones allowed under load (None: the
    # database's default, see billstack/db.py), seconds to wait for one before a 503.
    db_pool_size: int | None = Field(default=None, ge=1)
    db_max_overflow: int | None = Field(default=None, ge=0)
    db_pool_timeout_s: float = Field(default=5.0, gt=0)
    # Level of the server's log (the root logger): DEBUG, INFO, WARNING, ERROR or CRITICAL.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # `text` (one human line) or `json` (one object a line: time, level, logger, message,
    # request id and the project/customer/session ids where known).
    log_format: Literal["text", "json"] = "text"
    # One log line per HTTP request (method, path without the token, status, milliseconds).
    access_log: bool = False
    # Prometheus metrics at /metrics (routes.METRICS_PATH).
    metrics: bool = False
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto count: addresses or CIDRs,
    # comma-separated (e.g. "127.0.0.1,10.0.0.0/8"). Empty: the headers are ignored.
    trusted_proxies: str = ""
    # Redis shared by every process (Reflex's state manager reads the same variable): rate
    # limits and live updates go through it when set, per process otherwise.
    redis_url: str | None = Field(default=None, validation_alias="REFLEX_REDIS_URL", repr=False)
    # Audit events older than this many days are deleted (services/audit.py).
    audit_retention_days: int = Field(default=365, ge=1)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_case_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """BILLSTACK_TRUSTED_PROXIES parsed; a value that is not an address or CIDR is refused."""
        networks = []
        for value in (part.strip() for part in self.trusted_proxies.split(",")):
            if not value:
                continue
            try:
                networks.append(ip_network(value, strict=False))
            except ValueError:
                raise ConfigError(
                    f"BILLSTACK_TRUSTED_PROXIES: {value!r} is not an IP address or CIDR "
                    "(list them comma-separated, e.g. 127.0.0.1,10.0.0.0/8)."
                ) from None
        return tuple(networks)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'billstack.db').as_posix()}"

    @property
    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "localhost" if self.host in ("0.0.0.0", "127.0.0.1", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def public_url_is_https(self) -> bool:
        """Customers reach BillStack over https: HSTS, and the Secure `__Host-` link cookie."""
        return self.resolved_public_url.lower().startswith("https://")

    def allowed_origins(self) -> list[str]:
        """The origins a browser may call the API and open the websocket from (rxconfig.py
        hands them to Reflex): the public URL's own, then BILLSTACK_CORS_ORIGINS."""
        extra = [_listed_origin(value.strip()) for value in self.cors_origins.split(",") if value.strip()]
        return list(dict.fromkeys([origin_of(self.resolved_public_url), *extra]))

    def signing_keys(self) -> list[str]:
        """Current secret first, then the previous one (still accepted during rotation)."""
        keys = [resolve_secret_key(self)]
        if self.secret_key_previous:
            keys.append(self.secret_key_previous)
        return keys


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings and derived state (tests change the environment)."""
    get_settings.cache_clear()
    _generated_secret.cache_clear()


def origin_of(url: str) -> str:
    """`scheme://host[:port]` as a browser sends it in `Origin` (lower case, no default port)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{parts.port}" if parts.port is not None and parts.port != default_port else ""
    return f"{parts.scheme.lower()}://{host}{port}"


def _listed_origin(value: str) -> str:
    parts = urlsplit(value)
    try:
        is_origin = (parts.scheme in ("http", "https") and bool(parts.hostname) and parts.path in ("", "/")
                     and not (parts.query or parts.fragment or parts.username or "*" in value)
                     and (parts.port is None or parts.port > 0))
    except ValueError:  # a port that is not a number
        is_origin = False
    if not is_origin:
        raise ConfigError(
            f"BILLSTACK_CORS_ORIGINS: {value!r} is not an origin. List scheme://host[:port] values, "
            "comma-separated (e.g. https://app.example.com); '*' is not allowed."
        )
    return origin_of(value)


def resolve_secret_key(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    if settings.env == "production":
        raise ConfigError(
            "BILLSTACK_SECRET_KEY is not set. With BILLSTACK_ENV=production BillStack "
            "refuses to start without it; generate one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
        )
    return _generated_secret(settings.data_dir.resolve())


@lru_cache(maxsize=4)
def _generated_secret(data_dir: Path) -> str:
    """Development only: a random key created once and kept in the data folder."""
    path = data_dir / SECRET_KEY_FILE
    if path.exists():
        return path.read_text().strip()
    private_dir(data_dir)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    log.warning(
        "BILLSTACK_SECRET_KEY is not set: generated a development key in %s. "
        "Set BILLSTACK_SECRET_KEY (and BILLSTACK_ENV=production) before going live.",
        path,
    )
    return key
