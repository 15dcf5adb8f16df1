"""`project create/update/show` for plan changes (Stripe's `features.subscription_update`):
the plan-change prices checked against a real emulator account, the proration behaviour,
the period-end conditions and the quantity rule. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from cli_helpers import assert_clean_error, make_project, make_team, row_counts, run, run_json


@pytest.fixture
def stripe_account(emulator_url: str) -> dict[str, Any]:
    import stripe

    from devtools.emulator import new_account_key

    key = new_account_key()
    return {"key": key, "url": emulator_url, "client": stripe.StripeClient(key, base_addresses={"api": emulator_url})}


@pytest.fixture
def prices(stripe_account: dict[str, Any]) -> dict[str, str]:
    """Basic and Pro (monthly, Pro with a nickname), Pro yearly, a one-time fee, an archived price."""
    client = stripe_account["client"]
    basic = client.v1.products.create({"name": "Basic", "description": "For one person"})
    pro = client.v1.products.create({"name": "Pro"})

    def price(product: str, amount: int, **extra: Any) -> str:
        return client.v1.prices.create({"product": product, "currency": "eur", "unit_amount": amount, **extra}).id

    archived = price(basic.id, 500, recurring={"interval": "month"})
    client.v1.prices.update(archived, {"active": False})
    return {
        "basic": price(basic.id, 1000, recurring={"interval": "month"}),
        "pro": price(pro.id, 2500, recurring={"interval": "month"}, nickname="Pro monthly"),
        "pro_yearly": price(pro.id, 25000, recurring={"interval": "year"}),
        "one_time": price(basic.id, 9900),
        "archived": archived,
    }


@pytest.fixture
def project(db_url: str, stripe_account: dict[str, Any]) -> str:
    return make_project(make_team(), "--stripe-api-base", stripe_account["url"], key=stripe_account["key"])["id"]


def _update(project_id: str, *args: str) -> dict[str, Any]:
    return run_json("project", "update", project_id, *args)


def _price_ids(data: dict[str, Any]) -> list[str]:
    return [p["priceId"] for p in data["subscriptionUpdate"]["prices"]]


def test_a_new_project_has_plan_changes_off_with_stripes_defaults(project: str) -> None:
    shown = run_json("project", "show", project)
    assert shown["features"]["planChange"] is False
    assert shown["subscriptionUpdate"] == {
        "enabled": False,
        "prices": [],
        "prorationBehavior": "create_prorations",
        "scheduleAtPeriodEnd": [],
        "quantity": {"enabled": False, "min": 1, "max": None},
    }
    text = run("project", "show", project).stdout
    assert "plan change off" in text and "none (customers have no plan to switch to)" in text


def test_set_prices_are_shown_in_order_with_stripes_names_and_amounts(project: str, prices: dict[str, str]) -> None:
    data = _update(project, "--enable-plan-change", "--plan-change-price", prices["pro"],
                   "--plan-change-price", prices["basic"], "--plan-change-price", prices["pro_yearly"])
    assert data["features"]["planChange"] is True and data["subscriptionUpdate"]["enabled"] is True
    listed = data["subscriptionUpdate"]["prices"]
    assert [(p["priceId"], p["productName"], p["unitAmount"], p["currency"], p["interval"]) for p in listed] == [
        (prices["pro"], "Pro", 2500, "eur", "month"),
        (prices["basic"], "Basic", 1000, "eur", "month"),
        (prices["pro_yearly"], "Pro", 25000, "eur", "year"),
    ]
    # The nickname describes a price; without one, the product's description does.
    assert [p["description"] for p in listed] == ["Pro monthly", "For one person", None]
    assert run_json("project", "show", project)["subscriptionUpdate"] == data["subscriptionUpdate"]
    text = run("project", "show", project).stdout
    assert f"{prices['pro']} (Pro, 2500 eur / month)" in text
    assert text.index(prices["pro"]) < text.index(prices["basic"]) < text.index(prices["pro_yearly"])


def test_a_new_list_replaces_the_old_and_clear_empties_it(project: str, prices: dict[str, str]) -> None:
    _update(project, "--plan-change-price", prices["basic"], "--plan-change-price", prices["pro"])
    # Same ids in another order, then a shorter list: the unique (project, price) rows are replaced.
    assert _price_ids(_update(project, "--plan-change-price", prices["pro"], "--plan-change-price",
                              prices["basic"])) == [prices["pro"], prices["basic"]]
    assert _price_ids(_update(project, "--plan-change-price", prices["pro_yearly"])) == [prices["pro_yearly"]]
    # An update about something else leaves the list alone.
    assert _price_ids(_update(project, "--display-name", "Shop")) == [prices["pro_yearly"]]
    assert _price_ids(_update(project, "--clear-plan-change-prices")) == []
    both = run("project", "update", project, "--plan-change-price", prices["basic"], "--clear-plan-change-prices")
    assert_clean_error(both, exit_code=2, says="contradict")


def test_prices_can_be_set_when_the_project_is_created(db_url: str, stripe_account: dict, prices: dict) -> None:
    created = make_project(make_team(), "--stripe-api-base", stripe_account["url"], "--enable-plan-change",
                           "--plan-change-price", prices["basic"], key=stripe_account["key"])
    assert _price_ids(created) == [prices["basic"]]


@pytest.mark.parametrize(
    ("which", "says"),
    [
        ("price_doesNotExist123", "price_doesNotExist123: Stripe has no such price"),
        ("one_time", "is a one-time price"),
        ("archived", "is archived"),
        ("not-a-price", "must be a Stripe price id"),
    ],
)
def test_a_bad_price_is_named_and_nothing_is_saved(
    project: str, prices: dict[str, str], db_url: str, which: str, says: str
) -> None:
    _update(project, "--plan-change-price", prices["basic"])
    before = row_counts(db_url)
    bad = prices.get(which, which)
    result = run("project", "update", project, "--enable-plan-change", "--proration-behavior", "none",
                 "--plan-change-price", prices["pro"], "--plan-change-price", bad)
    message = assert_clean_error(result, says=says)
    assert bad in message and "--plan-change-price" in message
    assert row_counts(db_url) == before
    shown = run_json("project", "show", project)
    assert _price_ids(shown) == [prices["basic"]]
    assert shown["features"]["planChange"] is False and shown["subscriptionUpdate"]["prorationBehavior"] == (
        "create_prorations")


def test_errors_as_json_name_the_param(project: str, prices: dict[str, str]) -> None:
    result = run("project", "update", project, "--plan-change-price", prices["one_time"], "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["param"] == "planChangePrice" and prices["one_time"] in error["message"]


def test_the_same_price_twice_is_refused(project: str, prices: dict[str, str]) -> None:
    result = run("project", "update", project, "--plan-change-price", prices["basic"],
                 "--plan-change-price", prices["basic"])
    assert_clean_error(result, says=f"lists {prices['basic']} more than once")


def test_at_most_ten_products(project: str, stripe_account: dict[str, Any], db_url: str) -> None:
    client = stripe_account["client"]
    ids = [
        client.v1.prices.create({"product_data": {"name": f"Plan {n}"}, "currency": "usd", "unit_amount": 100 * n,
                                 "recurring": {"interval": "month"}}).id
        for n in range(1, 12)
    ]
    flags = [arg for price_id in ids for arg in ("--plan-change-price", price_id)]
    assert_clean_error(run("project", "update", project, *flags), says="11 products")
    assert len(_price_ids(_update(project, *flags[:20]))) == 10


def test_proration_behavior_and_period_end_conditions(project: str) -> None:
    data = _update(project, "--proration-behavior", "always_invoice", "--schedule-at-period-end",
                   "decreasing_item_amount", "--schedule-at-period-end", "shortening_interval")
    assert data["subscriptionUpdate"]["prorationBehavior"] == "always_invoice"
    assert data["subscriptionUpdate"]["scheduleAtPeriodEnd"] == ["decreasing_item_amount", "shortening_interval"]
    replaced = _update(project, "--schedule-at-period-end", "shortening_interval")
    assert replaced["subscriptionUpdate"]["scheduleAtPeriodEnd"] == ["shortening_interval"]
    assert re.search(r"Schedule at period end:\s+shortening_interval\n", run("project", "show", project).stdout)
    assert _update(project, "--clear-schedule-at-period-end")["subscriptionUpdate"]["scheduleAtPeriodEnd"] == []


@pytest.mark.parametrize(
    "args",
    [("--proration-behavior", "sometimes"), ("--schedule-at-period-end", "increasing_item_amount")],
)
def test_unknown_choices_are_refused_by_the_command(project: str, db_url: str, args: tuple[str, str]) -> None:
    before = row_counts(db_url)
    result = run("project", "update", project, *args)
    assert result.exit_code == 2 and f"Invalid value for '{args[0]}'" in result.stderr
    assert row_counts(db_url) == before


def test_quantity_rule(project: str) -> None:
    data = _update(project, "--enable-quantity-change", "--quantity-min", "2", "--quantity-max", "50")
    assert data["subscriptionUpdate"]["quantity"] == {"enabled": True, "min": 2, "max": 50}
    assert re.search(r"Quantity change:\s+on \(min 2, max 50\)", run("project", "show", project).stdout)
    # Each bound is checked against the stored other one.
    assert_clean_error(run("project", "update", project, "--quantity-min", "51"),
                       says="--quantity-min (51) is above the maximum quantity (50)")
    assert_clean_error(run("project", "update", project, "--quantity-max", "1"), says="--quantity-max (1) is below the minimum quantity (2)")
    assert _update(project, "--quantity-max", "")["subscriptionUpdate"]["quantity"]["max"] is None
    assert _update(project, "--quantity-min", "500")["subscriptionUpdate"]["quantity"]["min"] == 500


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--quantity-min", "0"), "--quantity-min must be a whole number from 1 to 10000"),
        (("--quantity-max", "ten"), "--quantity-max must be a whole number"),
        (("--quantity-max", "10001"), "--quantity-max must be a whole number from 1 to 10000"),
        (("--quantity-min", "5", "--quantity-max", "4"), "--quantity-min (5) is above the maximum quantity (4)"),
    ],
)
def test_bad_quantities_are_refused_and_nothing_is_saved(
    project: str, db_url: str, args: tuple[str, ...], says: str
) -> None:
    before = row_counts(db_url)
    assert_clean_error(run("project", "update", project, *args), says=says)
    assert row_counts(db_url) == before
    assert run_json("project", "show", project)["subscriptionUpdate"]["quantity"] == {
        "enabled": False, "min": 1, "max": None}


def test_with_stripe_down_nothing_is_saved(project: str, prices: dict[str, str], stripe_account: dict,
                                           db_url: str) -> None:
    from devtools.emulator import stripe_down

    _update(project, "--plan-change-price", prices["basic"])
    before = row_counts(db_url)
    with stripe_down(stripe_account["url"], stripe_account["key"]):
        result = run("project", "update", project, "--enable-plan-change", "--plan-change-price", prices["pro"])
    assert_clean_error(result, says="Stripe is unavailable right now")
    assert row_counts(db_url) == before
    shown = run_json("project", "show", project)
    assert _price_ids(shown) == [prices["basic"]] and shown["features"]["planChange"] is False
