"""What a project adds to its portal page's Content-Security-Policy (api_routes/csp.py
builds the header): its `frame_ancestors` setting, its logo's origin (img-src) and its
Stripe Checkout origin (form-action). Read from the database; the header layer caches it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from billstack import stripe_gateway
from billstack.config import origin_of
from billstack.models import Project
from billstack.services.setting_checks import safe_logo_url


@dataclass(frozen=True)
class PageSources:
    frame_ancestors: str | None  # the setting as stored: api_routes/security.py checks it on the way out
    logo_origin: str | None  # https://host[:port] of a logo that passes safe_logo_url, else None
    checkout_origin: str  # https://checkout.stripe.com, or the emulator's origin


def page_sources(db: Session, project_id: str) -> PageSources | None:
    """The project's sources, or None for an unknown project (the page then gets the
    project-less policy)."""
    project = db.get(Project, project_id)
    if project is None:
        return None
    logo = safe_logo_url(project.logo_url)
    return PageSources(
        frame_ancestors=project.frame_ancestors,
        logo_origin=origin_of(logo) if logo else None,
        checkout_origin=stripe_gateway.checkout_origin(project),
    )
