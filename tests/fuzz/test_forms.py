"""Property tests of the portal's form and event-argument parsing: whatever the browser (or
an operator) sends, the answer is a value or a clear 400 naming the field — never an
exception escaping.

- billing details: the form as the page collects it (`BillingDetailsMixin._details_update`)
  → the checks before Stripe (`billing_details._stripe_params`); a refused field is one the
  form can show next to its input (`_PARAM_TO_FIELD`), not a generic failure;
- event arguments (`state/arguments.py`): anything but a subscription id is refused;
- quantities: the plan picker's (`plans._checked_quantity`) and the project settings'
  (`plan_catalog._quantity`, from the CLI), with a round trip for the ones that parse.
"""

from __future__ import annotations

import string
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billstack.errors import BillStackError
from billstack.services.plan_catalog import QUANTITY_LIMIT, _quantity
from billstack.services.portal.billing_details import _stripe_params
from billstack.services.portal.plans import _checked_quantity
from billstack.state.arguments import well_formed_subscription_id
from billstack.state.billing_details import _PARAM_TO_FIELD, BillingDetailsMixin

FORM_KEYS = ("name", "email", "phone", "line1", "line2", "city", "state", "postal_code")
anything = st.none() | st.booleans() | st.integers() | st.floats() | st.text() \
    | st.lists(st.text(max_size=3), max_size=2) | st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2)
form_text = st.text() | st.text(alphabet=string.printable, max_size=300) \
    | st.sampled_from(["", " ", "ada@example.com", "Ada <ada@example.com>", "+49 30 1234567", "\u202e", "\x00"])
forms = st.dictionaries(st.sampled_from(FORM_KEYS) | st.text(max_size=8), form_text | anything, max_size=10)
countries = st.sampled_from(["", "DE", "de", " us ", "XX", "DEU", "1A", "ÄÖ"]) | st.text(max_size=4)


@given(form=forms, country=countries, editable=st.fixed_dictionaries(
    {f"edit_{name}": st.booleans() for name in ("name", "email", "phone", "address")}))
def test_the_billing_details_form_parses_to_stripe_params_or_a_field_error(
    form: dict[str, Any], country: str, editable: dict[str, bool]
) -> None:
    page = SimpleNamespace(form_country=country, **editable)
    update = BillingDetailsMixin._details_update(page, form)  # type: ignore[arg-type]
    try:
        params = _stripe_params(update)
    except BillStackError as error:
        assert error.status == 400, error
        assert error.param in _PARAM_TO_FIELD, f"the form cannot show an error on {error.param!r}"
        return
    for key, value in params.items():
        if key == "address":
            assert all(isinstance(v, str) and v.isprintable() for v in value.values())
            assert value["country"] == "" or len(value["country"]) == 2
        else:
            assert isinstance(value, str) and value == value.strip() and value.isprintable()
    if editable["edit_name"]:
        assert params["name"]  # a name cannot be cleared


@given(value=anything | st.sampled_from(["sub_1", "sub_", "sub_1\n", "sub_" + "a" * 251, "cus_1"]))
def test_event_arguments_that_are_not_subscription_ids_are_refused(value: Any) -> None:
    accepted = well_formed_subscription_id(value, "cancel")
    assert accepted == (isinstance(value, str) and value.startswith("sub_") and 4 < len(value) <= 254
                        and all(c.isascii() and (c.isalnum() or c == "_") for c in value))


SUBSCRIPTION = SimpleNamespace(quantity=3)


@given(quantity=anything | st.integers(-5, QUANTITY_LIMIT + 5), enabled=st.booleans(),
       low=st.integers(1, 10), high=st.none() | st.integers(10, QUANTITY_LIMIT * 2))
def test_the_plan_pickers_quantity_is_a_number_in_the_rule_or_a_400(
    quantity: Any, enabled: bool, low: int, high: int | None
) -> None:
    project = SimpleNamespace(feature_quantity_change=enabled, quantity_min=low, quantity_max=high)
    try:
        checked = _checked_quantity(project, SUBSCRIPTION, quantity)  # type: ignore[arg-type]
    except BillStackError as error:
        assert error.status == 400 and error.param == "quantity", error
        return
    assert checked == SUBSCRIPTION.quantity or (enabled and low <= checked <= min(high or QUANTITY_LIMIT,
                                                                                       QUANTITY_LIMIT))


@given(value=anything | st.text(alphabet="0123456789 ", max_size=6000) | st.integers(-10, QUANTITY_LIMIT + 10))
def test_a_quantity_setting_parses_to_a_number_in_range_or_a_400(value: Any) -> None:
    try:
        parsed = _quantity(value, "quantityMax")
    except BillStackError as error:
        assert error.status == 400 and error.param == "quantityMax" and len(error.message) < 200, error
        return
    assert 1 <= parsed <= QUANTITY_LIMIT
    assert _quantity(str(parsed), "quantityMax") == parsed  # round trip


@pytest.mark.parametrize("digits", ["9" * 5000, "0" * 5000 + "7"])
def test_a_quantity_of_thousands_of_digits_is_a_400_not_a_value_error(digits: str) -> None:
    """Regression (found by the property above): int() refuses more than 4300 digits with a
    ValueError, which escaped `project update --quantity-max` as a traceback."""
    if digits.endswith("7"):
        assert _quantity(digits, "quantityMax") == 7
    else:
        with pytest.raises(BillStackError) as refused:
            _quantity(digits, "quantityMax")
        assert refused.value.param == "quantityMax"
