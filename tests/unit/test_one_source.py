"""Each fact is defined once and imported where it is used.

These facts once had copies that disagreed (five cancel reasons in the UI, eight in the
service; two lists of live statuses and locales; the portal URL and the session API's path
written out by hand; three ways to write an audit row; the portal view shape twice). The
checks read the source with `ast` where a copy could creep back, and compare the objects
the layers really use where it matters.
"""

from __future__ import annotations

import ast
import typing
from collections import defaultdict
from pathlib import Path

from fastapi.routing import APIRoute

from api_routes import portal as portal_routes
from api_routes.fast_paths import SESSION_CREATE_PATH
from api_routes.portal import UpdateSubscriptionRequest
from billstack import i18n, presenters, routes
from billstack.components import subscriptions as subscription_components
from billstack.config import origin_of
from billstack.services import portal as portal_service
from billstack.services import tenants, views
from billstack.services.portal import cancel as cancel_service
from billstack.services.portal import rows as portal_rows
from billstack.services.sessions import resolve_locale
from billstack.state import cancel as cancel_state

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("billstack", "api_routes")

# Names that must be bound at module level (an assignment, function or class) in one module only.
ONE_DEFINITION = (
    "CANCEL_REASONS", "LIVE_STATUSES", "SUPPORTED_LOCALES", "DEFAULT_LOCALE", "normalise_locale",
    "origin_of", "PORTAL_PREFIX", "PORTAL_SESSIONS_PATH", "STRIPE_WEBHOOK_PREFIX", "OPENAPI_PATH",
    "ErrorResponse", "ErrorDetail", "PortalView", "SubscriptionView", "InvoiceView", "PaymentMethodView",
    "security_headers", "frame_ancestors_policy", "DEFAULT_ACCENT_COLOR", "NEUTRAL",
)


def product_files() -> list[Path]:
    return sorted(p for package in PRODUCT for p in (REPO / package).rglob("*.py") if "migrations" not in p.parts)


def module_level_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def docstring_nodes(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_each_fact_is_defined_in_one_module():
    where: dict[str, list[str]] = defaultdict(list)
    for path in product_files():
        for name in module_level_names(ast.parse(path.read_text())) & set(ONE_DEFINITION):
            where[name].append(path.relative_to(REPO).as_posix())
    assert {name: places for name, places in where.items() if len(places) > 1} == {}
    assert set(where) == set(ONE_DEFINITION), "every fact listed is defined somewhere"


def test_url_paths_are_written_only_in_routes():
    """`/portal/…` and `/api/…` appear as string literals in routes.py alone (docstrings aside)."""
    written = []
    for path in product_files():
        if path == REPO / "billstack" / "routes.py":
            continue
        tree = ast.parse(path.read_text())
        skip = docstring_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
                text = node.value
                if text.startswith(("/portal/", "/api")) or text == "/portal":
                    written.append(f"{path.relative_to(REPO)}:{node.lineno} {text!r}")
    assert written == []


def test_the_cancel_reasons_offered_are_the_ones_accepted():
    """The UI's radio list, the state's check, the API's schema and the service's check are one list."""
    assert subscription_components.CANCEL_REASONS is views.CANCEL_REASONS
    assert cancel_state.CANCEL_REASONS is views.CANCEL_REASONS
    assert cancel_service.CANCEL_REASONS is views.CANCEL_REASONS
    assert portal_service.CANCEL_REASONS is views.CANCEL_REASONS
    reason_type = UpdateSubscriptionRequest.model_fields["reason"].annotation
    literal = next(arg for arg in typing.get_args(reason_type) if arg is not type(None))
    assert typing.get_args(literal) == views.CANCEL_REASONS
    # Stripe's cancellation_details.feedback values, all of them (the UI once offered five).
    assert set(views.CANCEL_REASONS) == {
        "customer_service", "low_quality", "missing_features", "other", "switched_service",
        "too_complex", "too_expensive", "unused",
    }


def test_one_list_of_live_statuses():
    assert presenters.LIVE_STATUSES is views.LIVE_STATUSES
    assert portal_rows.LIVE_STATUSES is views.LIVE_STATUSES
    # cancel.py and plans.py check through rows.require_live.


def test_the_locales_offered_are_the_translations_shipped():
    shipped = {path.parent.parent.name.replace("_", "-") for path in (REPO / "billstack" / "locales").glob("*/LC_MESSAGES/messages.po")}
    # Every language offered has its catalogue, and a catalogue of a language nobody can ask for is dead.
    assert shipped == set(i18n.SUPPORTED_LOCALES) and len(shipped) == 46
    # The session API resolves every supported locale (any case, `_` for `-`) through i18n.
    for locale in i18n.SUPPORTED_LOCALES:
        assert resolve_locale(locale) == locale == i18n.normalise_locale(locale.upper().replace("-", "_"))


def test_audit_rows_are_built_in_one_module():
    """`AuditEvent(...)` and the audit table's SQL appear in services/audit.py only."""
    builders = []
    for path in product_files():
        rel = path.relative_to(REPO).as_posix()
        if rel in ("billstack/services/audit.py", "billstack/models.py"):
            continue
        source = path.read_text()
        tree = ast.parse(source)
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "AuditEvent"]
        if calls or "audit_event (" in source.lower() or "into audit_event" in source.lower():
            builders.append(rel)
    assert builders == []


def test_the_portal_api_answers_with_the_services_views():
    """The API's response models are the view models the UI renders, not a second copy."""
    for route in portal_routes.router.routes:
        assert isinstance(route, APIRoute)
        assert route.response_model.__module__ == views.__name__, route.path


def test_the_session_api_path_is_the_same_for_the_router_and_the_fast_path():
    path = routes.portal_sessions_path("team_1", "proj_1")
    assert SESSION_CREATE_PATH.fullmatch(path)
    assert not SESSION_CREATE_PATH.fullmatch(path + "/extra")


def test_origins_are_normalised_one_way():
    for origin in ("HTTPS://App.Example.com:443", "http://localhost:8000/", "https://a.example:8443"):
        assert tenants.normalised_origin(origin) == origin_of(origin)
