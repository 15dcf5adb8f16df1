"""The audit trail (issue 18): each portal action writes one event — with its Stripe object,
the client's address and user agent — whether it worked, failed in Stripe or was refused by
our rules; events page newest first, per project; old ones are pruned; the CLI reads them.

Actions run as a request runs them (`run_portal_call`, validation and one unit of work), with
the real stripe SDK against the emulator; on SQLite and PostgreSQL (`world` takes `db_url`).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select

from billstack.client_info import PortalClient
from billstack.config import reset_settings
from billstack.db import session_scope
from billstack.errors import BillStackError
from billstack.models import AuditEvent, Subscription
from billstack.services import audit, portal
from billstack.services.portal import AddressUpdate, DetailsUpdate
from billstack.services.portal_calls import Work, run_portal_call
from tests.portal_world import Person, World, mirror, submit_checkout, world  # noqa: F401 - fixture
from tests.unit.cli_helpers import run, run_json

CLIENT = PortalClient.of("198.51.100.23", "AuditTest/1.0 (X11; pytest)", None)
RETURN = "https://app.example.com/portal-return"


def _act(world: World, action, person: Person | None = None):
    return asyncio.run(run_portal_call((person or world.alice).token, CLIENT, action, work=Work.ACTION))


def _events(world: World, action: str | None = None) -> list[AuditEvent]:
    with session_scope() as db:
        query = select(AuditEvent).where(AuditEvent.project_id == world.project_id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(db.exec(query.order_by(AuditEvent.id)))


def _portal_events(world: World) -> list[tuple[str, str, str | None]]:
    return [(e.action, e.outcome, e.stripe_object_id) for e in _events(world) if e.action in audit.PORTAL_ACTIONS]


def _assert_from_client(event: AuditEvent, world: World, person: Person | None = None) -> None:
    person = person or world.alice
    assert (event.client_ip, event.user_agent) == (CLIENT.ip, CLIENT.user_agent)
    assert (event.project_id, event.customer_id) == (world.project_id, person.customer_id)
    assert event.session_id is not None


def _team_sub(world: World) -> str:
    return world.alice.seeded["subscriptions"][0]


# --- one event per action ------------------------------------------------------------------


def test_cancel_and_resume_each_write_one_event_with_the_subscription(world: World) -> None:
    sub_id = _team_sub(world)
    _act(world, lambda db, ctx: portal.set_cancel_at_period_end(db, ctx, sub_id, True, reason="too_expensive"))
    _act(world, lambda db, ctx: portal.set_cancel_at_period_end(db, ctx, sub_id, False))

    assert _portal_events(world) == [("subscription.cancel_scheduled", "ok", sub_id),
                                     ("subscription.resumed", "ok", sub_id)]
    cancelled, resumed = _events(world, "subscription.cancel_scheduled") + _events(world, "subscription.resumed")
    _assert_from_client(cancelled, world)
    _assert_from_client(resumed, world)
    assert json.loads(cancelled.detail or "{}") == {"reason": "too_expensive"}


def test_plan_changes_now_at_the_period_end_and_dropped_each_write_one_event(world: World) -> None:
    sub_id = _team_sub(world)
    team = world.stripe.v1.subscriptions.retrieve(sub_id)["items"].data[0].price.id
    prices = {name: world.stripe.v1.prices.create({"currency": "usd", "unit_amount": amount, "recurring":
                                                   {"interval": "month"}, "product_data": {"name": name}}).id
              for name, amount in (("Business", 9900), ("Starter", 1900))}
    world.set_project(feature_plan_change=True, plan_change_prices=[team, *prices.values()],
                      schedule_at_period_end="decreasing_item_amount")

    _act(world, lambda db, ctx: portal.change_plan(db, ctx, sub_id, prices["Business"]))
    _act(world, lambda db, ctx: portal.change_plan(db, ctx, sub_id, prices["Starter"]))
    _act(world, lambda db, ctx: portal.keep_current_plan(db, ctx, sub_id))

    assert _portal_events(world) == [("subscription.plan_changed", "ok", sub_id),
                                     ("subscription.plan_change_scheduled", "ok", sub_id),
                                     ("subscription.scheduled_change_dropped", "ok", sub_id)]
    changed = _events(world, "subscription.plan_changed")[0]
    _assert_from_client(changed, world)
    assert json.loads(changed.detail or "{}") == {"price": prices["Business"], "quantity": 1}


def test_the_card_wallet_writes_one_event_per_action_with_the_card(world: World) -> None:
    old_card = world.alice.seeded["payment_method"]
    checkout = _act(world, lambda db, ctx: portal.start_payment_method_checkout(db, ctx, portal_url=RETURN))
    response = submit_checkout(checkout.url, "5555555555554444")
    session_id = parse_qs(urlsplit(response.headers["location"]).query)["session_id"][0]
    new_card = _act(world, lambda db, ctx: portal.complete_payment_method_update(db, ctx, session_id)).id
    _act(world, lambda db, ctx: portal.complete_payment_method_update(db, ctx, session_id))  # a reload: no event
    # The old card is no longer charged: remove it; then the new default back and forth.
    for sub in mirror(Subscription, world.alice.customer_id):
        assert sub.default_payment_method_id == new_card
    _act(world, lambda db, ctx: portal.remove_payment_method(db, ctx, old_card))

    assert _portal_events(world) == [("payment_method.checkout_started", "ok", checkout.id),
                                     ("payment_method.added", "ok", new_card),
                                     ("payment_method.removed", "ok", old_card)]
    for event in _events(world):
        if event.action in audit.PORTAL_ACTIONS:
            _assert_from_client(event, world)


def test_making_a_saved_card_the_default_writes_one_event(world: World) -> None:
    card = world.stripe.v1.payment_methods.attach(
        "pm_card_mastercard", {"customer": world.alice.stripe_customer_id}).id
    _act(world, lambda db, ctx: portal.load_portal_view(db, ctx, refresh="always"))
    _act(world, lambda db, ctx: portal.set_default_payment_method(db, ctx, card))

    assert _portal_events(world) == [("payment_method.default_changed", "ok", card)]
    _assert_from_client(_events(world, "payment_method.default_changed")[0], world)


def test_billing_details_and_tax_ids_write_one_event_each(world: World) -> None:
    cus = world.alice.stripe_customer_id
    _act(world, lambda db, ctx: portal.update_customer_details(
        db, ctx, DetailsUpdate(name="Alice Müller", address=AddressUpdate(line1="Hauptstr. 1", city="Berlin",
                                                                          postal_code="10115", country="DE"))))
    tax_id = _act(world, lambda db, ctx: portal.add_tax_id(db, ctx, "eu_vat", "DE123456789")).id
    _act(world, lambda db, ctx: portal.remove_tax_id(db, ctx, tax_id))

    assert tax_id.startswith("txi_")
    assert _portal_events(world) == [("customer.details_updated", "ok", cus),
                                     ("customer.tax_id_added", "ok", tax_id),
                                     ("customer.tax_id_removed", "ok", tax_id)]
    details = _events(world, "customer.details_updated")[0]
    _assert_from_client(details, world)
    assert json.loads(details.detail or "{}") == {"fields": ["name", "address"]}
    assert "Müller" not in (details.detail or "")  # field names, never the values


# --- failures ------------------------------------------------------------------------------


def test_an_action_stripe_fails_writes_one_failed_event_and_no_ok_event(world: World) -> None:
    sub_id = _team_sub(world)
    _act(world, lambda db, ctx: portal.load_portal_view(db, ctx))
    with world.stripe_down(), pytest.raises(BillStackError) as caught:
        _act(world, lambda db, ctx: portal.set_cancel_at_period_end(db, ctx, sub_id, True))

    assert caught.value.code == "stripe_unavailable"
    assert _portal_events(world) == [("subscription.cancel_scheduled", "failed", sub_id)]
    [failed] = _events(world, "subscription.cancel_scheduled")
    _assert_from_client(failed, world)
    assert json.loads(failed.detail or "{}") == {"error": {"code": "stripe_unavailable", "status": 503}}


def test_a_refused_tax_id_is_a_failed_event_naming_the_customer(world: World) -> None:
    with pytest.raises(BillStackError):
        _act(world, lambda db, ctx: portal.add_tax_id(db, ctx, "eu_vat", "not-a-vat-number"))
    assert _portal_events(world) == [("customer.tax_id_added", "failed", world.alice.stripe_customer_id)]


def test_refusals_by_our_own_rules_are_denied_events(world: World) -> None:
    bobs_sub, bobs_card = world.bob.seeded["subscriptions"][0], world.bob.seeded["payment_method"]
    alices_card = world.alice.seeded["payment_method"]
    for action in (lambda db, ctx: portal.set_cancel_at_period_end(db, ctx, bobs_sub, True),  # not hers: 404
                   lambda db, ctx: portal.remove_payment_method(db, ctx, bobs_card),  # not hers: 404
                   lambda db, ctx: portal.remove_payment_method(db, ctx, alices_card)):  # in use: 409
        with pytest.raises(BillStackError):
            _act(world, action)
    world.set_project(feature_cancel=False)
    with pytest.raises(BillStackError) as caught:
        _act(world, lambda db, ctx: portal.set_cancel_at_period_end(db, ctx, _team_sub(world), True))

    assert caught.value.status == 403
    assert _portal_events(world) == [("subscription.cancel_scheduled", "denied", bobs_sub),
                                     ("payment_method.removed", "denied", bobs_card),
                                     ("payment_method.removed", "denied", alices_card),
                                     ("subscription.cancel_scheduled", "denied", _team_sub(world))]
    assert world.stripe.v1.subscriptions.retrieve(bobs_sub).cancel_at_period_end is False


def test_reads_write_no_event(world: World) -> None:
    _act(world, lambda db, ctx: portal.load_portal_view(db, ctx, refresh="always"))
    asyncio.run(run_portal_call(world.alice.token, CLIENT, portal.mirror_view, work=Work.MIRROR))
    assert _portal_events(world) == []


# --- listing -------------------------------------------------------------------------------


def _seed_events(world: World, count: int, *, start: datetime, customer_id: str | None = None,
                 project_id: str | None = None, action: str = "subscription.resumed") -> None:
    with session_scope() as db:
        for i in range(count):
            audit.record(db, action, project_id=project_id or world.project_id,
                         customer_id=customer_id or world.alice.customer_id, now=start + timedelta(minutes=i))


def test_list_pages_newest_first_by_id_and_filters(world: World) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    _seed_events(world, 7, start=start)
    _seed_events(world, 3, start=start + timedelta(days=1), customer_id=world.bob.customer_id,
                 action="subscription.cancel_scheduled")
    seen, cursor = [], None
    with session_scope() as db:
        while True:
            page, has_more = audit.list_events(db, world.project_id, limit=3, starting_after=cursor)
            seen += page
            if not has_more:
                break
            cursor = page[-1].id
        ids = [e.id for e in seen]
        # The world's own events (project and sessions made) are there too.
        assert ids == [e.id for e in reversed(_events(world))] and len(ids) >= 10

        bobs, _ = audit.list_events(db, world.project_id, customer_id=world.bob.customer_id)
        assert {e.customer_id for e in bobs} == {world.bob.customer_id}
        assert len([e for e in bobs if e.action == "subscription.cancel_scheduled"]) == 3  # + his session's
        cancels, _ = audit.list_events(db, world.project_id, action="subscription.cancel_scheduled")
        assert len(cancels) == 3 and {e.customer_id for e in cancels} == {world.bob.customer_id}
        window, more = audit.list_events(db, world.project_id, since=start + timedelta(minutes=2),
                                         until=start + timedelta(minutes=5))
        assert [e.created_at.replace(tzinfo=UTC) - start for e in window] == [
            timedelta(minutes=m) for m in (4, 3, 2)] and not more


def test_list_never_shows_another_projects_events(world: World, db_url: str) -> None:
    from billstack.services import tenants

    with session_scope() as db:
        other = tenants.create_project(db, team_id=world.team_id, name="Other", stripe_secret_key=world.stripe_key,
                                       stripe_api_base=world.emulator_url).id
    start = datetime(2026, 1, 1, tzinfo=UTC)
    _seed_events(world, 2, start=start)
    _seed_events(world, 4, start=start, project_id=other, customer_id="pc_other")
    with session_scope() as db:
        mine, _ = audit.list_events(db, world.project_id, limit=100)
        theirs, _ = audit.list_events(db, other, limit=100)
        assert {e.project_id for e in mine} == {world.project_id} and len(mine) == len(_events(world))
        assert {e.project_id for e in theirs} == {other}
        assert len([e for e in theirs if e.customer_id == "pc_other"]) == 4
        # Another project's customer id finds nothing here.
        assert audit.list_events(db, world.project_id, customer_id="pc_other") == ([], False)


@pytest.mark.parametrize(("options", "param"), [
    ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"action": "x" * 65}, "action"),
    ({"since": datetime(2026, 2, 1, tzinfo=UTC), "until": datetime(2026, 1, 1, tzinfo=UTC)}, "until"),
])
def test_list_refuses_bad_options(world: World, options: dict, param: str) -> None:
    with session_scope() as db, pytest.raises(BillStackError) as caught:
        audit.list_events(db, world.project_id, **options)
    assert (caught.value.status, caught.value.param) == (400, param)


def test_moments_are_iso_or_a_time_ago() -> None:
    now = datetime(2026, 3, 30, 12, 0, tzinfo=UTC)
    assert audit.parse_moment("7d", "since", now=now) == now - timedelta(days=7)
    assert audit.parse_moment("24h", "since", now=now) == now - timedelta(hours=24)
    assert audit.parse_moment("2026-03-01", "since") == datetime(2026, 3, 1, tzinfo=UTC)
    assert audit.parse_moment("2026-03-01T10:00:00+02:00", "since") == datetime(2026, 3, 1, 8, tzinfo=UTC)
    for bad in ("yesterday", "7 days", "", "999999w", "0001-01-01T00:00:00+05:00", "2026-13-01"):
        with pytest.raises(BillStackError) as caught:
            audit.parse_moment(bad, "since", now=now)
        assert caught.value.param == "since"


# --- retention -----------------------------------------------------------------------------


def test_prune_deletes_only_events_past_retention_in_batches(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLSTACK_AUDIT_RETENTION_DAYS", "30")
    reset_settings()
    now = datetime(2026, 6, 1, tzinfo=UTC)  # a fake clock: the events' times and prune's are given
    _seed_events(world, 5, start=now - timedelta(days=40))
    _seed_events(world, 2, start=now - timedelta(days=29))
    with session_scope() as db:
        assert audit.prune(db, now, batch=2) == 5
    with session_scope() as db:
        assert audit.prune(db, now) == 0
    assert [e.created_at.replace(tzinfo=UTC) < now - timedelta(days=30) for e in _events(world)] == [False] * len(
        _events(world))
    assert len([e for e in _events(world) if e.action == "subscription.resumed"]) == 2


# --- the CLI -------------------------------------------------------------------------------


def test_cli_lists_events_as_a_table_and_as_json(world: World) -> None:
    sub_id = _team_sub(world)
    _act(world, lambda db, ctx: portal.set_cancel_at_period_end(db, ctx, sub_id, True))

    listed = run_json("audit", "list", "--project", world.project_id, "--action", "subscription.cancel_scheduled")
    [event] = listed["data"]
    assert listed["object"] == "list" and listed["hasMore"] is False
    assert {k: event[k] for k in ("action", "outcome", "stripeObjectId", "clientIp", "userAgent", "customerId")} == {
        "action": "subscription.cancel_scheduled", "outcome": "ok", "stripeObjectId": sub_id,
        "clientIp": CLIENT.ip, "userAgent": CLIENT.user_agent, "customerId": world.alice.customer_id}
    assert event["createdAt"].endswith("Z") and isinstance(event["id"], int)

    text = run("audit", "list", "--project", world.project_id, "--customer", world.alice.customer_id,
               "--since", "1h")
    assert text.exit_code == 0, text.output
    assert "OUTCOME" in text.stdout and "subscription.cancel_scheduled" in text.stdout and sub_id in text.stdout
    assert "AuditTest/1.0" in text.stdout
    assert run_json("audit", "list", "--project", world.project_id, "--since", "2999-01-01")["data"] == []


def test_cli_refuses_bad_input_cleanly(world: World) -> None:
    for args, says in ((["--since", "last tuesday"], "since"), (["--limit", "0"], "limit")):
        result = run("audit", "list", "--project", world.project_id, *args)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert says in result.stderr
    missing = run("audit", "list", "--project", "proj_nope")
    assert missing.exit_code == 1 and "proj_nope" in missing.stderr


def test_cli_prune_says_how_many(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLSTACK_AUDIT_RETENTION_DAYS", "1")
    reset_settings()
    _seed_events(world, 3, start=datetime(2020, 1, 1, tzinfo=UTC))
    assert run_json("audit", "prune") == {"deleted": 3, "retentionDays": 1}
    again = run("audit", "prune")
    assert again.exit_code == 0 and "Deleted 0 audit events older than 1 days." in again.stdout


def test_the_webhook_workers_hourly_pass_prunes_the_audit_trail(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from billstack.services.webhooks import worker_thread

    monkeypatch.setenv("BILLSTACK_AUDIT_RETENTION_DAYS", "1")
    reset_settings()
    _seed_events(world, 2, start=datetime(2020, 1, 1, tzinfo=UTC))
    worker = worker_thread.WebhookWorker(poll_interval=60)
    prune_processed = worker_thread.prune_processed

    def one_pass_only() -> int:  # the pass's first prune ends the loop once the pass is over
        worker._stopping.set()
        worker._wake.set()
        return prune_processed()

    monkeypatch.setattr(worker_thread, "prune_processed", one_pass_only)
    worker._run()  # in this thread: one pass, then it stops

    assert [e for e in _events(world) if e.created_at.year == 2020] == []
