"""services.portal.dead_end_view: what a portal link that no longer opens shows (issue 13,
item 7) — the project's brand and way back for an expired or revoked link of ours, a
neutral page for anything else, and never customer data."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from sqlmodel import Session

from billstack.clock import utcnow
from billstack.db import engine_for, session_scope
from billstack.services import sessions
from billstack.services.portal import dead_end_view
from tests.api.conftest import Tenant, make_tenant


@pytest.fixture
def tenant(db_url: str) -> Tenant:
    with Session(engine_for(db_url), expire_on_commit=False) as db:
        return make_tenant(db, display_name="Acme Cloud", accent_color="#0a7d33", support_email="help@acme.example",
                           logo_url="https://acme.example/logo.png", default_return_url="https://acme.example/account")


def _token(tenant: Tenant, **options: object) -> tuple[str, str]:
    with session_scope() as db:
        created = sessions.create_portal_session(
            db, team_id=tenant.team_id, project_id=tenant.project_id, api_key=None, customer_id=tenant.customer_id,
            **options,
        )
        return created.session_id, created.token


def test_an_expired_link_wears_the_brand_with_the_sessions_way_back_and_language(tenant: Tenant) -> None:
    _, token = _token(tenant, locale="de", return_url="https://acme.example/billing",
                      now=utcnow() - timedelta(hours=2))

    view = dead_end_view(token)

    assert view.kind == "expired" and view.locale == "de"
    assert view.return_url == "https://acme.example/billing"
    assert view.branding is not None
    assert (view.branding.display_name, view.branding.accent_color) == ("Acme Cloud", "#0a7d33")
    assert (view.branding.support_email, view.branding.logo_url) == ("help@acme.example", "https://acme.example/logo.png")
    shown = view.model_dump_json()
    assert tenant.customer_email not in shown and tenant.customer_name not in shown and tenant.customer_id not in shown


def test_an_auto_links_dead_end_speaks_the_browsers_language(tenant: Tenant) -> None:
    _, token = _token(tenant, now=utcnow() - timedelta(hours=2))  # no locale: auto

    assert dead_end_view(token, accept_language="ar, pt-BR;q=0.8").locale == "pt-BR"
    assert dead_end_view(token).locale == "en"
    _, explicit = _token(tenant, locale="ja", now=utcnow() - timedelta(hours=2))
    assert dead_end_view(explicit, accept_language="pt-BR").locale == "ja"


def test_a_revoked_link_falls_back_to_the_projects_default_return_url(tenant: Tenant) -> None:
    session_id, token = _token(tenant, locale="fr")
    with session_scope() as db:
        sessions.revoke_portal_session(db, session_id, actor="cli")

    view = dead_end_view(token)

    assert (view.kind, view.locale, view.return_url) == ("revoked", "fr", "https://acme.example/account")
    assert view.branding is not None and view.branding.display_name == "Acme Cloud"


@pytest.mark.parametrize("token", ["garbage", "", "a.b.c"])
def test_garbage_gets_the_neutral_page(tenant: Tenant, token: str) -> None:
    assert dead_end_view(token).model_dump(by_alias=False) == {"kind": "invalid", "branding": None, "return_url": None,
                                                "locale": "en"}


def test_a_token_signed_by_someone_else_gets_the_neutral_page_even_naming_a_real_session(tenant: Tenant) -> None:
    session_id, token = _token(tenant, now=utcnow() - timedelta(hours=2))
    forged = jwt.encode(jwt.decode(token, options={"verify_signature": False}), "not-our-key-" + "x" * 32,
                        algorithm="HS256")

    view = dead_end_view(forged)

    assert (view.kind, view.branding, view.return_url) == ("invalid", None, None)


def test_a_link_that_still_opens_is_no_dead_end(tenant: Tenant) -> None:
    _, token = _token(tenant)
    with pytest.raises(ValueError):
        dead_end_view(token)
