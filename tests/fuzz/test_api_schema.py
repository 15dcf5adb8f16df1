"""Schemathesis against the served `/api/openapi.json`: every documented operation, fuzzed.

The API runs in-process as `billstack serve` serves it (`FastPaths(create_api())`: the
session API's fast path in front, the framework stack behind), on a project seeded in
the Stripe emulator (tests/portal_world.py). Each operation is driven with data that fits
its documented schema (positive) and with data that does not (negative), with real
credentials (the project's API key, Alice's portal token) so operations run past
authentication (signed webhook deliveries: test_webhook_bodies.py); part of the path
ids are swapped for real ones (Alice's subscriptions, card and tax id, Bob's customer, a
session of hers) so they run past the lookups too.

Checks on every response: never a 5xx (`not_a_server_error`), the status is documented
for the operation (`status_code_conformance`), the content type is the documented one
(`content_type_conformance`) and the body matches the documented schema
(`response_schema_conformance`). An operation whose every answer was an authentication
failure fails the test: it would prove nothing.

Bounded in `make test` (`examples(...)` per operation and mode); `make fuzz` runs many more.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.openapi import from_asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import select

from api_routes import create_api
from api_routes.fast_paths import FastPaths
from billstack import routes
from billstack.config import reset_settings
from billstack.db import session_scope
from billstack.models import TaxId
from billstack.services import sessions, tenants
from tests.fuzz.conftest import examples
from tests.portal_world import World, build_world

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_MODE = 25  # per operation and generation mode, in `make test`
AUTH_FAILURES = {401, 403}


@dataclass
class Fuzzed:
    """The seeded project, with everything an operation may need to run past its checks."""

    world: World
    api_key: str
    spare_session_id: str  # a session of Alice's that DELETE …/portal/{sessionId} may revoke
    tax_id: str | None

    def real_ids(self) -> dict[str, list[str]]:
        alice = self.world.alice.seeded
        return {
            "teamId": [self.world.team_id],
            "projectId": [self.world.project_id],
            "token": [self.world.alice.token],
            "subscriptionId": list(alice["subscriptions"]),
            "paymentMethodId": [alice["payment_method"]],
            "taxIdId": [self.tax_id] if self.tax_id else [],
            "customerId": [self.world.bob.customer_id],
            "sessionId": [self.spare_session_id],
        }


@pytest.fixture
def fuzzed(db_url: str, emulator_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fuzzed]:
    # The fuzzer sends hundreds of requests a minute with one key, token and address: the
    # per-minute limits would turn most of them into 429s and hide the operations behind.
    for name in ("SESSIONS", "TOKEN_FAILURES", "PORTAL_ACTIONS"):
        monkeypatch.setenv(f"BILLSTACK_RATE_LIMIT_{name}_PER_MINUTE", "1000000")
    reset_settings()
    world = build_world(emulator_url, feature_plan_change=True, feature_pause=True, feature_promotion_code=True)
    with session_scope() as db:
        _key, api_key = tenants.create_api_key(db, project_id=world.project_id)
        spare = sessions.create_portal_session(db, team_id=world.team_id, project_id=world.project_id,
                                               api_key=None, customer_id=world.alice.customer_id)
        tax_id = db.exec(select(TaxId.stripe_id).where(TaxId.customer_id == world.alice.customer_id)).first()
    yield Fuzzed(world, api_key, spare.session_id, tax_id)
    reset_settings()


def _operations() -> list[str]:
    """Every documented operation's label (`METHOD /path`), from the document the API serves."""
    return [f"{method.upper()} {path}" for path, operations in create_api().openapi()["paths"].items()
            for method in operations]


def _pick(value: object, salt: str) -> int:
    """A deterministic 0-99 from a generated value: the same case always makes the same choice."""
    return zlib.crc32(f"{salt}:{value!r}".encode()) % 100


def _with_credentials(case, fuzzed: Fuzzed) -> None:
    """Real ids in most paths, and the API key on the session and customers APIs."""
    real = fuzzed.real_ids()
    params = case.path_parameters if case.path_parameters is not None else {}
    for name, generated in list(params.items()):
        choices = real.get(name)
        if not choices:
            continue
        # Team, project and token: always the real ones (a wrong one is a 401/403/404 that the
        # API tests cover); the other ids: real in two cases out of three.
        if name in ("teamId", "projectId", "token") or _pick(generated, name) < 67:
            params[name] = choices[_pick(generated, "which") % len(choices)]
    case.path_parameters = params
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("customerId"), str) and _pick(body["customerId"], "body") < 67:
        body["customerId"] = fuzzed.world.alice.customer_id  # a session for a real customer: 200s too
    headers = dict(case.headers or {})
    if case.operation.path.startswith(routes.API_PREFIX):
        headers["Authorization"] = f"Bearer {fuzzed.api_key}"
    case.headers = headers


def _fuzz(schema, label: str, mode: GenerationMode, fuzzed: Fuzzed, statuses: Counter) -> None:
    method, path = label.split(" ", 1)
    operation = schema[path][method]

    @settings(max_examples=examples(EXAMPLES_PER_MODE), suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        _with_credentials(case, fuzzed)
        response = case.call()
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        # Nothing of this operation can be made invalid (no body, no constrained parameter).
        assert mode is GenerationMode.NEGATIVE, label


@pytest.mark.parametrize("label", _operations())
def test_every_documented_operation_answers_as_documented(label: str, fuzzed: Fuzzed) -> None:
    schema = from_asgi(routes.OPENAPI_PATH, FastPaths(create_api()))
    statuses: Counter[int] = Counter()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        _fuzz(schema, label, mode, fuzzed, statuses)
    print(f"{label}: {dict(sorted(statuses.items()))}")
    assert sum(statuses.values()) > 0, f"{label}: no request was sent"
    assert set(statuses) - AUTH_FAILURES, f"{label}: every answer was an authentication failure: {statuses}"
