"""The Stripe-compatible endpoint takes Stripe's 46 portal locales and `auto` (issue 20), as
the session API does, and refuses junk in Stripe's envelope naming the list."""

from __future__ import annotations

import pytest
import stripe

from billstack.db import session_scope
from billstack.i18n import SUPPORTED_LOCALES
from billstack.models import PortalSession
from tests.api.test_stripe_compat import api_key, sdk, server_url  # noqa: F401 - fixtures
from tests.portal_world import World, world  # noqa: F401 - fixture


def test_the_stripe_compatible_endpoint_takes_the_same_list(server_url, world: World, api_key) -> None:
    client = sdk(server_url, api_key)
    made = {locale: client.v1.billing_portal.sessions.create({"customer": world.alice.stripe_customer_id,
                                                              "locale": locale})
            for locale in (*SUPPORTED_LOCALES, "auto")}
    with session_scope() as db:
        for locale, session in made.items():
            assert session.locale == locale  # Stripe's answer echoes it
            assert db.get(PortalSession, "portal_sess_" + session.id.removeprefix("bps_")).locale == locale
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.billing_portal.sessions.create({"customer": world.alice.stripe_customer_id, "locale": "<b>"})
    assert refused.value.param == "locale" and "zh-TW" in str(refused.value.user_message)
