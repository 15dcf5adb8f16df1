"""The Stripe boundary: the only package that talks to Stripe.

One `stripe.StripeClient` per project (its own secret key, `api_base` overridable so
the emulator and real Stripe differ only by URL), network retries on, a timeout of
BILLSTACK_STRIPE_TIMEOUT_S, an idempotency key on every write, and Stripe errors mapped
to BillStack errors (a timeout is StripeUnavailable: 503, nothing changed), all in
`core`; every other module calls Stripe through `core.call`. Callers import this package
and use the names below.
"""

from billstack.stripe_gateway.core import (
    CHECK_TIMEOUT_S,
    STRIPE_CHECKOUT_ORIGIN,
    StripeDict,
    call,
    check_credentials,
    checkout_origin,
    client_for,
    idempotency_key,
    plain,
)
from billstack.stripe_gateway.customers import (
    create_customer,
    create_setup_checkout_session,
    create_tax_id,
    delete_tax_id,
    detach_payment_method,
    set_customer_default_payment_method,
    update_customer_details,
)
from billstack.stripe_gateway.reads import (
    find_promotion_code,
    list_card_payment_methods,
    list_customers_page,
    list_invoices,
    list_subscriptions,
    list_tax_ids,
    preview_next_invoice,
    retrieve_checkout_session,
    retrieve_coupon,
    retrieve_customer,
    retrieve_customer_data,
    retrieve_invoice,
    retrieve_price,
    retrieve_subscription,
    retrieve_subscription_schedule,
)
from billstack.stripe_gateway.subscriptions import (
    apply_promotion_code,
    apply_retention_coupon,
    cancel_subscription_now,
    change_subscription_price,
    preview_subscription_change,
    release_subscription_schedule,
    schedule_subscription_change,
    set_cancel_at_period_end,
    set_pause_collection,
    set_subscription_default_payment_method,
)
from billstack.stripe_gateway.webhooks import (
    WebhookSignatureInvalid,
    create_webhook_endpoint,
    delete_webhook_endpoint,
    verify_webhook_signature,
)

__all__ = [
    "CHECK_TIMEOUT_S", "STRIPE_CHECKOUT_ORIGIN", "StripeDict", "WebhookSignatureInvalid",
    "apply_promotion_code", "apply_retention_coupon", "call", "cancel_subscription_now",
    "change_subscription_price", "check_credentials", "checkout_origin", "client_for", "create_customer",
    "create_setup_checkout_session", "create_tax_id", "create_webhook_endpoint", "delete_tax_id",
    "delete_webhook_endpoint", "detach_payment_method", "find_promotion_code", "idempotency_key",
    "list_card_payment_methods", "list_customers_page", "list_invoices", "list_subscriptions", "list_tax_ids",
    "plain", "preview_next_invoice", "preview_subscription_change", "release_subscription_schedule",
    "retrieve_checkout_session", "retrieve_coupon", "retrieve_customer", "retrieve_customer_data",
    "retrieve_invoice", "retrieve_price", "retrieve_subscription", "retrieve_subscription_schedule",
    "schedule_subscription_change", "set_cancel_at_period_end", "set_customer_default_payment_method",
    "set_pause_collection", "set_subscription_default_payment_method", "update_customer_details",
    "verify_webhook_signature",
]
