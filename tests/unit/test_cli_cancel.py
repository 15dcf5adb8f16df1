"""`project create/update/show` for cancellation (Stripe's `features.subscription_cancel`) and the
retention offer: the mode and proration rule, the offered reasons, and the retention coupon
checked against a real emulator account (issue 20)."""

from __future__ import annotations

from typing import Any

import pytest

from cli_helpers import assert_clean_error, make_project, make_team, row_counts, run, run_json

ALL_REASONS = ["too_expensive", "missing_features", "switched_service", "unused", "customer_service",
               "too_complex", "low_quality", "other"]


@pytest.fixture
def stripe_account(emulator_url: str) -> dict[str, Any]:
    import stripe

    from devtools.emulator import new_account_key

    key = new_account_key()
    return {"key": key, "url": emulator_url, "client": stripe.StripeClient(key, base_addresses={"api": emulator_url})}


@pytest.fixture
def project(db_url: str, stripe_account: dict[str, Any]) -> str:
    return make_project(make_team(), "--stripe-api-base", stripe_account["url"], key=stripe_account["key"])["id"]


def _update(project_id: str, *args: str) -> dict[str, Any]:
    return run_json("project", "update", project_id, *args)["subscriptionCancel"]


def test_a_new_project_cancels_at_period_end_asking_all_reasons_without_an_offer(project: str) -> None:
    shown = run_json("project", "show", project)["subscriptionCancel"]
    assert shown == {"mode": "at_period_end", "prorationBehavior": "none", "reasons": ALL_REASONS, "retention": None}
    text = run("project", "show", project).stdout
    assert "Cancel mode" in text and "at_period_end" in text and "Retention coupon" in text


def test_immediate_mode_with_prorations(project: str) -> None:
    assert _update(project, "--cancel-mode", "immediately", "--cancel-proration", "create_prorations")[
        "prorationBehavior"] == "create_prorations"
    assert run_json("project", "show", project)["subscriptionCancel"]["mode"] == "immediately"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--cancel-proration", "create_prorations"), "--cancel-proration create_prorations requires cancelMode immediately"),
        (("--cancel-mode", "sometimes"), "Invalid value for '--cancel-mode'"),
        (("--cancel-proration", "always_invoice"), "Invalid value for '--cancel-proration'"),
        (("--cancel-reasons", "too_expensive,bored"), "unknown reason(s) 'bored'"),
    ],
)
def test_bad_settings_are_refused_and_nothing_is_saved(project: str, db_url: str, args: tuple[str, ...], says: str) -> None:
    before = row_counts(db_url)
    result = run("project", "update", project, *args)
    assert result.exit_code != 0 and says.lower() in result.output.lower(), result.output
    assert "Traceback" not in result.output
    assert row_counts(db_url) == before
    assert run_json("project", "show", project)["subscriptionCancel"]["prorationBehavior"] == "none"


def test_leaving_immediate_mode_with_prorations_on_is_refused(project: str) -> None:
    _update(project, "--cancel-mode", "immediately", "--cancel-proration", "create_prorations")
    assert_clean_error(run("project", "update", project, "--cancel-mode", "at_period_end"),
                       says="--cancel-proration none")
    assert _update(project, "--cancel-mode", "at_period_end", "--cancel-proration", "none")["mode"] == "at_period_end"


def test_reasons_are_kept_in_stripes_order_and_empty_turns_the_question_off(project: str) -> None:
    assert _update(project, "--cancel-reasons", "other, too_expensive,unused,other")["reasons"] == [
        "too_expensive", "unused", "other"]
    assert _update(project, "--cancel-reasons", "")["reasons"] == []
    assert "not asked" in run("project", "show", project).stdout


def test_retention_coupon_terms_are_stored_and_shown(project: str, stripe_account: dict[str, Any]) -> None:
    client = stripe_account["client"]
    coupon = client.v1.coupons.create({"percent_off": 20, "duration": "repeating", "duration_in_months": 3})
    assert _update(project, "--retention-coupon", coupon.id)["retention"] == {
        "couponId": coupon.id, "percentOff": 20, "amountOff": None, "currency": None,
        "duration": "repeating", "durationInMonths": 3}
    assert f"{coupon.id} (20 % off, repeating for 3 months)" in run("project", "show", project).stdout
    fixed = client.v1.coupons.create({"amount_off": 500, "currency": "eur", "duration": "once"})
    assert _update(project, "--retention-coupon", fixed.id)["retention"] == {
        "couponId": fixed.id, "percentOff": None, "amountOff": 500, "currency": "eur",
        "duration": "once", "durationInMonths": None}
    assert _update(project, "--retention-coupon", "")["retention"] is None


def test_retention_coupon_can_be_set_at_create(db_url: str, stripe_account: dict[str, Any]) -> None:
    coupon = stripe_account["client"].v1.coupons.create({"percent_off": 50, "duration": "forever"})
    data = make_project(make_team(), "--stripe-api-base", stripe_account["url"], "--retention-coupon", coupon.id,
                        "--cancel-reasons", "too_expensive", key=stripe_account["key"])
    assert data["subscriptionCancel"]["retention"]["percentOff"] == 50
    assert data["subscriptionCancel"]["reasons"] == ["too_expensive"]


def test_a_missing_or_invalid_coupon_is_refused_and_nothing_is_saved(
    project: str, stripe_account: dict[str, Any], db_url: str
) -> None:
    client = stripe_account["client"]
    good = client.v1.coupons.create({"percent_off": 10, "duration": "once"})
    _update(project, "--retention-coupon", good.id)
    before = row_counts(db_url)
    assert_clean_error(run("project", "update", project, "--retention-coupon", "NOPE"), says="no coupon 'NOPE'")
    from devtools.emulator import advance_time, emulator_now

    now = emulator_now(stripe_account["url"], stripe_account["key"])
    expired = client.v1.coupons.create({"percent_off": 10, "duration": "once", "redeem_by": now + 60})
    advance_time(stripe_account["url"], stripe_account["key"], 120)
    assert_clean_error(run("project", "update", project, "--retention-coupon", expired.id), says="no longer valid")
    assert row_counts(db_url) == before
    assert run_json("project", "show", project)["subscriptionCancel"]["retention"]["couponId"] == good.id
