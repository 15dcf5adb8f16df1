"""What a customer can see and do in the portal, for one validated `PortalContext`.

The REST routes (api_routes/portal.py) and the Reflex state call these same functions,
so the two can never disagree. Reads come from the mirror (services/sync.py) and fall
back to saved data when Stripe is down (`reads`); writes go to Stripe first (with an
idempotency key), then to the mirror from Stripe's answer, and change nothing locally
when Stripe fails (`cancel`, `payment_methods`, `plans`). `rows` holds the customer-scoped
lookups and the rows → view model mapping (services/views.py).

No database connection is held while Stripe is called: each service commits its unit of
work so far first (`release_connection`), so a slow Stripe holds no connection, no row
lock and no SQLite write lock (services/portal_calls.py bounds the threads it holds).
"""

from billstack.services.portal.billing_details import (
    AddressUpdate,
    DetailsUpdate,
    add_tax_id,
    customer_details,
    remove_tax_id,
    update_customer_details,
)
from billstack.services.portal.cancel import CANCEL_COMMENT_MAX, set_cancel_at_period_end
from billstack.services.portal.dead_ends import dead_end_view
from billstack.services.portal.payment_methods import (
    CHECKOUT_SESSION_PLACEHOLDER,
    complete_payment_method_update,
    create_payment_method_checkout,
    remove_payment_method,
    set_default_payment_method,
    start_payment_method_checkout,
    start_payment_method_update,
)
from billstack.services.portal.pause import PauseRequest, pause_payments, resume_payments
from billstack.services.portal.plans import (
    change_plan,
    keep_current_plan,
    list_plans,
    preview_plan_change,
)
from billstack.services.portal.promotion_codes import PROMOTION_CODE_MAX, apply_promotion_code
from billstack.services.portal.reads import (
    NOTICE_STRIPE_UNAVAILABLE,
    REFRESH_MODES,
    Refresh,
    branding_of,
    features_of,
    list_invoices,
    load_page_view,
    load_portal_view,
    mirror_is_old,
    mirror_view,
)
from billstack.services.portal.retention import accept_retention_offer, cancellation_view
from billstack.services.portal.rows import INVOICE_PAGE_MAX, invoice_view, payment_method_view, subscription_view
from billstack.services.views import (
    CANCEL_REASONS,
    Branding,
    CheckoutRedirect,
    DeadEndView,
    Features,
    InvoicePage,
    InvoiceView,
    PaymentMethodView,
    PlanChangePreview,
    PlanList,
    PortalView,
    SubscriptionView,
)

__all__ = [
    "CANCEL_COMMENT_MAX",
    "CANCEL_REASONS",
    "CHECKOUT_SESSION_PLACEHOLDER",
    "INVOICE_PAGE_MAX",
    "NOTICE_STRIPE_UNAVAILABLE",
    "PROMOTION_CODE_MAX",
    "REFRESH_MODES",
    "AddressUpdate",
    "Branding",
    "CheckoutRedirect",
    "DeadEndView",
    "DetailsUpdate",
    "Features",
    "InvoicePage",
    "InvoiceView",
    "PauseRequest",
    "PaymentMethodView",
    "PlanChangePreview",
    "PlanList",
    "PortalView",
    "Refresh",
    "SubscriptionView",
    "accept_retention_offer",
    "add_tax_id",
    "apply_promotion_code",
    "branding_of",
    "cancellation_view",
    "change_plan",
    "complete_payment_method_update",
    "create_payment_method_checkout",
    "customer_details",
    "dead_end_view",
    "features_of",
    "invoice_view",
    "keep_current_plan",
    "list_invoices",
    "list_plans",
    "load_page_view",
    "load_portal_view",
    "mirror_is_old",
    "mirror_view",
    "pause_payments",
    "payment_method_view",
    "preview_plan_change",
    "remove_payment_method",
    "remove_tax_id",
    "resume_payments",
    "set_cancel_at_period_end",
    "set_default_payment_method",
    "start_payment_method_checkout",
    "start_payment_method_update",
    "subscription_view",
    "update_customer_details",
]
