"""A deep link's `afterCompletion` (issue 20, part 6; Stripe's `flow_data.after_completion`):
the session API checks each type and its one field, naming the field in a 400, and stores
it with the flow (canonical JSON); the portal API hands it back with the flow; the
Stripe-compatible endpoint maps Stripe's form onto it and echoes Stripe's shape."""

from __future__ import annotations

import json

import httpx
import pytest
import stripe

from billstack.db import session_scope
from billstack.errors import BillStackError
from billstack.models import PortalSession
from billstack.services import portal as portal_service
from billstack.services import sessions
from billstack.services.portal import flows
from tests.api.conftest import Tenant, assert_error, mirror_subscription
from tests.api.test_stripe_compat import api_key, sdk, server_url, token_of  # noqa: F401 - fixtures
from tests.portal_world import World, world  # noqa: F401 - fixture

ALLOWED = "https://a.example.com/account?from=portal"  # the tenant's default return URL's origin
FACTS = sessions.ProjectFacts("proj_x", "team_x", "https://a.example.com/account", "", True, True, True)


def _cancel(after: object) -> dict:
    return {"type": "subscription_cancel", "subscriptionId": "sub_own", "afterCompletion": after}


async def _session(client: httpx.AsyncClient, tenant: Tenant, flow: dict) -> httpx.Response:
    return await client.post(tenant.portal_path, headers=tenant.auth, json={"customerId": tenant.customer_id,
                                                                            "flow": flow})


def _stored(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    with session_scope() as db:
        return json.loads(db.get(PortalSession, response.json()["sessionId"]).flow)


@pytest.fixture
def own(tenant: Tenant, db_url: str) -> str:
    return mirror_subscription(db_url, tenant, "sub_own")


@pytest.mark.parametrize("after", [
    {"type": "portal_homepage"},
    {"type": "hosted_confirmation"},
    {"type": "hosted_confirmation", "customMessage": "Sorry to see you go. <b>Not bold</b>"},
    {"type": "hosted_confirmation", "customMessage": "x" * sessions.CUSTOM_MESSAGE_MAX},
    {"type": "redirect", "returnUrl": ALLOWED},
], ids=["homepage", "confirmation", "confirmation-message", "message-500", "redirect"])
@pytest.mark.asyncio
async def test_each_type_is_stored_with_the_flow(client, tenant: Tenant, own: str, after: dict) -> None:
    stored = _stored(await _session(client, tenant, _cancel(after)))
    assert stored == _cancel(after)
    assert list(stored) == ["type", "subscriptionId", "afterCompletion"]  # canonical: the flow's fields, then it


@pytest.mark.asyncio
async def test_a_payment_method_flow_takes_one_too(client, tenant: Tenant) -> None:
    flow = {"type": "payment_method_update", "afterCompletion": {"type": "redirect", "returnUrl": ALLOWED}}
    assert _stored(await _session(client, tenant, flow)) == flow


@pytest.mark.asyncio
async def test_a_flow_without_one_is_stored_as_before(client, tenant: Tenant, own: str) -> None:
    assert _stored(await _session(client, tenant, {"type": "subscription_cancel", "subscriptionId": own})) == {
        "type": "subscription_cancel", "subscriptionId": own}


@pytest.mark.asyncio
async def test_a_blank_message_is_no_message(client, tenant: Tenant, own: str) -> None:
    stored = _stored(await _session(client, tenant, _cancel({"type": "hosted_confirmation", "customMessage": "  "})))
    assert stored["afterCompletion"] == {"type": "hosted_confirmation"}


@pytest.mark.parametrize(("after", "param", "code"), [
    ({"type": "home"}, "flow.afterCompletion.type", "parameter_invalid"),
    ({}, "flow.afterCompletion.type", None),
    ({"type": "hosted_confirmation", "customMessage": "x" * 501}, "flow.afterCompletion.customMessage", None),
    ({"type": "hosted_confirmation", "customMessage": 7}, "flow.afterCompletion.customMessage", None),
    ({"type": "redirect"}, "flow.afterCompletion.returnUrl", "parameter_missing"),
    ({"type": "redirect", "returnUrl": "https://evil.example.net/x"}, "flow.afterCompletion.returnUrl",
     "return_url_not_allowed"),
    ({"type": "redirect", "returnUrl": "javascript:alert(1)"}, "flow.afterCompletion.returnUrl", "parameter_invalid"),
    ({"type": "hosted_confirmation", "returnUrl": ALLOWED}, "flow.afterCompletion.returnUrl", None),
    ({"type": "portal_homepage", "customMessage": "hi"}, "flow.afterCompletion.customMessage", None),
], ids=["bad-type", "no-type", "message-501", "message-not-text", "redirect-without-url", "redirect-elsewhere",
        "redirect-javascript", "url-on-confirmation", "message-on-homepage"])
@pytest.mark.asyncio
async def test_bad_after_completion_is_400_naming_the_field(
    client, tenant: Tenant, own: str, after: dict, param: str, code: str | None
) -> None:
    error = assert_error(await _session(client, tenant, _cancel(after)), 400, code, param)
    assert param.rsplit(".", 1)[1] in error["message"] or code in (None, "parameter_missing", "parameter_unknown")
    # The service's own check (operator tooling, the Stripe-compatible endpoint) names the same field.
    with pytest.raises(BillStackError) as refused:
        sessions.check_flow(_cancel(after), FACTS)
    assert (refused.value.status, refused.value.param) == (400, param)


@pytest.mark.asyncio
async def test_control_characters_in_the_message_are_refused() -> None:
    with pytest.raises(BillStackError) as refused:
        sessions.check_flow(_cancel({"type": "hosted_confirmation", "customMessage": "a\x00b"}), FACTS)
    assert refused.value.param == "flow.afterCompletion.customMessage"
    ok = sessions.check_flow(_cancel({"type": "hosted_confirmation", "customMessage": "line 1\nline 2"}), FACTS)
    assert json.loads(ok)["afterCompletion"]["customMessage"] == "line 1\nline 2"


@pytest.mark.asyncio
async def test_the_redirect_follows_the_projects_allowed_origins() -> None:
    listed = sessions.ProjectFacts("proj_x", "team_x", "https://a.example.com/account",
                                   "https://b.example.org", True, True, True)
    url = "https://b.example.org/done"
    assert json.loads(sessions.check_flow(_cancel({"type": "redirect", "returnUrl": url}), listed))[
        "afterCompletion"] == {"type": "redirect", "returnUrl": url}
    with pytest.raises(BillStackError) as refused:
        sessions.check_flow(_cancel({"type": "redirect", "returnUrl": ALLOWED}), listed)
    assert (refused.value.code, refused.value.param) == ("return_url_not_allowed", "flow.afterCompletion.returnUrl")


# --- the portal API and the Stripe-compatible endpoint (the emulator) ----------------------


def test_the_portal_api_returns_the_flow_with_its_after_completion(server_url, world: World, api_key) -> None:
    subscription = world.alice.seeded["subscriptions"][0]
    flow = {"type": "subscription_cancel", "subscriptionId": subscription,
            "afterCompletion": {"type": "hosted_confirmation", "customMessage": "Thanks for trying us."}}
    created = httpx.post(f"{server_url}/api/billstack/teams/{world.team_id}/projects/{world.project_id}/portal",
                         headers={"Authorization": f"Bearer {api_key}"},
                         json={"customerId": world.alice.customer_id, "flow": flow})
    assert created.status_code == 200, created.text
    view = httpx.get(f"{server_url}/api/portal/{created.json()['token']}")
    assert view.status_code == 200, view.text
    assert view.json()["flow"] == flow


def test_stripe_sdk_after_completion_is_stored_and_echoed(server_url, world: World, api_key) -> None:
    subscription = world.alice.seeded["subscriptions"][0]
    session = sdk(server_url, api_key).v1.billing_portal.sessions.create({
        "customer": world.alice.stripe_customer_id,
        "flow_data": {"type": "subscription_cancel", "subscription_cancel": {"subscription": subscription},
                      "after_completion": {"type": "redirect",
                                           "redirect": {"return_url": "https://a.example.com/done"}}},
    })
    assert session.flow.after_completion.type == "redirect"
    assert session.flow.after_completion.redirect.return_url == "https://a.example.com/done"
    assert session.flow.after_completion.hosted_confirmation is None
    with session_scope() as db:
        stored = json.loads(db.get(PortalSession, "portal_sess_" + session.id.removeprefix("bps_")).flow)
    assert stored["afterCompletion"] == {"type": "redirect", "returnUrl": "https://a.example.com/done"}

    confirmed = sdk(server_url, api_key).v1.billing_portal.sessions.create({
        "customer": world.alice.stripe_customer_id,
        "flow_data": {"type": "payment_method_update", "after_completion": {
            "type": "hosted_confirmation", "hosted_confirmation": {"custom_message": "All set."}}},
    })
    assert confirmed.flow.after_completion.hosted_confirmation.custom_message == "All set."


@pytest.mark.parametrize(("after", "param", "code"), [
    ({"type": "nowhere"}, "flow_data[after_completion][type]", "parameter_invalid"),
    ({"type": "redirect"}, "flow_data[after_completion][redirect][return_url]", "parameter_missing"),
    ({"type": "redirect", "redirect": {"return_url": "https://evil.example.net/"}},
     "flow_data[after_completion][redirect][return_url]", "return_url_not_allowed"),
    ({"type": "hosted_confirmation", "hosted_confirmation": {"custom_message": "x" * 501}},
     "flow_data[after_completion][hosted_confirmation][custom_message]", "parameter_invalid"),
    ({"type": "portal_homepage", "elsewhere": {"x": "1"}}, "flow_data[after_completion][elsewhere]",
     "parameter_unknown"),
], ids=["bad-type", "no-url", "elsewhere", "long-message", "unknown"])
def test_stripe_sdk_bad_after_completion_names_stripes_param(server_url, world: World, api_key, after, param,
                                                              code) -> None:
    world.set_project(allowed_return_origins="https://a.example.com")
    with pytest.raises(stripe.InvalidRequestError) as raised:
        sdk(server_url, api_key).v1.billing_portal.sessions.create({
            "customer": world.alice.stripe_customer_id,
            "flow_data": {"type": "payment_method_update", "after_completion": after},
        })
    assert (raised.value.http_status, raised.value.param, raised.value.code) == (400, param, code)


# --- the portal page's service: what an open flow shows, where it ends ----------------------


def test_an_open_subscription_flow_shows_its_subscription_alone(world: World) -> None:
    view = world.as_customer(world.alice, portal_service.load_portal_view)
    assert len(view.subscriptions) > 1 and view.invoices.invoices and view.payment_methods  # the whole portal
    subject = view.subscriptions[1].id

    scoped = flows.scope_view(view, {"type": "subscription_cancel", "subscriptionId": subject})

    assert [s.id for s in scoped.subscriptions] == [subject]
    assert scoped.invoices.invoices == [] and not scoped.invoices.has_more
    assert scoped.payment_methods == [] and scoped.amount_due == [] and scoped.customer is None
    shown = scoped.model_dump_json()  # what the page's state could hold: nothing of the rest
    assert not [s.id for s in view.subscriptions if s.id != subject and s.id in shown]
    assert not [i.id for i in view.invoices.invoices if i.id in shown]
    assert not [m.id for m in view.payment_methods if m.id in shown]
    assert flows.subject_section({"type": "subscription_update_confirm"}) == flows.SECTION_SUBSCRIPTIONS


def test_an_open_payment_method_flow_shows_the_cards_alone(world: World) -> None:
    view = world.as_customer(world.alice, portal_service.load_portal_view)
    flow = {"type": "payment_method_update"}

    scoped = flows.scope_view(view, flow)

    assert scoped.payment_methods == view.payment_methods and scoped.subscriptions == []
    assert scoped.invoices.invoices == [] and scoped.customer is None
    assert flows.subject_section(flow) == flows.SECTION_PAYMENT_METHODS


@pytest.mark.parametrize(("after", "end"), [
    (None, flows.FlowEnd("home")),
    ({"type": "portal_homepage"}, flows.FlowEnd("home")),
    ({"type": "hosted_confirmation"}, flows.FlowEnd("confirmation")),
    ({"type": "hosted_confirmation", "customMessage": "<i>Bye</i>"}, flows.FlowEnd("confirmation", message="<i>Bye</i>")),
    ({"type": "redirect", "returnUrl": ALLOWED}, flows.FlowEnd("redirect", url=ALLOWED)),
    ({"type": "redirect", "returnUrl": "javascript:alert(1)"}, flows.FlowEnd("home")),  # never stored; never followed
], ids=["none", "homepage", "confirmation", "message", "redirect", "unsafe-redirect"])
def test_a_completed_flow_ends_as_its_after_completion_says(after: dict | None, end: flows.FlowEnd) -> None:
    flow = {"type": "subscription_cancel", "subscriptionId": "sub_own", **({"afterCompletion": after} if after else {})}
    assert flows.completed(flow) == end


def test_a_flow_left_unfinished_goes_back_to_the_app_else_home() -> None:
    assert flows.left("https://a.example.com/account") == flows.FlowEnd("redirect", url="https://a.example.com/account")
    assert flows.left(None) == flows.FlowEnd("home")
    assert flows.left("javascript:alert(1)") == flows.FlowEnd("home")
    assert not flows.is_flow(None) and not flows.is_flow({"type": "nope"}) and flows.is_flow({"type": "payment_method_update"})
