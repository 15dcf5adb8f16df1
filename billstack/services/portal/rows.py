"""The token customer's mirror rows, and those rows as the view model.

Every lookup is scoped to the customer: another customer's id is indistinguishable from
one that does not exist (404), so the portal never confirms what it does not show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlmodel import Session, select

from billstack.errors import BillStackError, forbidden, invalid, not_found
from billstack.models import Customer, Invoice, PaymentMethod, PlanPrice, Project, Subscription, TaxId
from billstack.services.sessions import PortalContext
from billstack.services.setting_checks import safe_link
from billstack.services.sync import sync_customer
from billstack.services.views import (
    CUSTOMER_UPDATE_FIELDS,
    HIDDEN_SUBSCRIPTION_STATUSES,
    LIVE_STATUSES,
    AddressView,
    CustomerDetails,
    DiscountView,
    InvoiceView,
    NextInvoiceView,
    PauseCollectionView,
    PaymentMethodView,
    ScheduledChangeView,
    SubscriptionView,
    TaxIdVerification,
    TaxIdView,
)

INVOICE_PAGE_MAX = 100


def ensure_synced(db: Session, ctx: PortalContext) -> None:
    """Actions check ownership against the mirror, so a first-time API caller syncs first."""
    if ctx.customer.synced_at is None:
        sync_customer(db, ctx.project, ctx.customer)


def own_subscription(db: Session, customer: Customer, subscription_id: str) -> Subscription:
    row = db.exec(
        select(Subscription).where(
            Subscription.project_id == customer.project_id, Subscription.stripe_id == subscription_id
        )
    ).first()
    # Another customer's subscription is indistinguishable from one that does not exist.
    if row is None or row.customer_id != customer.id or row.status in HIDDEN_SUBSCRIPTION_STATUSES:
        raise not_found(f"No such subscription: '{subscription_id}'.", param="subscriptionId")
    return row


def require_live(row: Subscription, done: str) -> None:
    """Only a live subscription can be acted on (`done`: "cancelled", "resumed", …)."""
    if row.status not in LIVE_STATUSES:
        raise invalid(
            f"This subscription is {row.status}; only active, trialing or past-due subscriptions can be {done}.",
            param="subscriptionId",
            code="subscription_not_live",
        )


def own_subscription_view(db: Session, customer: Customer, subscription_id: str) -> SubscriptionView:
    """The customer's subscription as the view, as the mirror has it now."""
    row = own_subscription(db, customer, subscription_id)
    return subscription_view(row, plan_names(db, [row]))


def plan_names(db: Session, rows: Iterable[Subscription]) -> dict[str, str]:
    """Product names of the plan prices that `rows` change to at their period end: one query,
    and none at all when no row has a change waiting (the usual page load)."""
    waiting = [row for row in rows if row.scheduled_price_id]
    if not waiting:
        return {}
    found = db.exec(
        select(PlanPrice.price_id, PlanPrice.product_name).where(
            PlanPrice.project_id == waiting[0].project_id,
            PlanPrice.price_id.in_({row.scheduled_price_id for row in waiting}),
        )
    )
    return dict(found.all())


def live_subscriptions(db: Session, customer: Customer) -> list[Subscription]:
    return list(
        db.exec(
            select(Subscription).where(
                Subscription.customer_id == customer.id, Subscription.status.in_(LIVE_STATUSES)
            )
        )
    )


def own_payment_method(db: Session, customer: Customer, payment_method_id: str) -> PaymentMethod:
    """One of the customer's saved cards; another customer's is indistinguishable from none (404)."""
    row = db.exec(
        select(PaymentMethod).where(
            PaymentMethod.customer_id == customer.id, PaymentMethod.stripe_id == payment_method_id
        )
    ).first()
    if row is None:
        raise not_found(f"No such payment method: '{payment_method_id}'.", param="paymentMethodId")
    return row


def own_tax_id(db: Session, customer: Customer, tax_id: str) -> TaxId:
    row = db.exec(select(TaxId).where(TaxId.customer_id == customer.id, TaxId.stripe_id == tax_id)).first()
    if row is None:
        raise not_found(f"No such tax ID: '{tax_id}'.", param="taxIdId")
    return row


def allowed_updates(project: Project) -> list[str]:
    """The billing details the project lets customers edit, in the form's order."""
    chosen = {name.strip() for name in (project.customer_update_fields or "").split(",")}
    return [name for name in CUSTOMER_UPDATE_FIELDS if name in chosen]


def payment_method_view_by_id(db: Session, customer: Customer, payment_method_id: str) -> PaymentMethodView:
    row = db.exec(
        select(PaymentMethod).where(
            PaymentMethod.customer_id == customer.id, PaymentMethod.stripe_id == payment_method_id
        )
    ).first()
    if row is None:  # not a card (the mirror keeps cards only): still the default
        return PaymentMethodView(
            id=payment_method_id, brand=None, last4=None, exp_month=None, exp_year=None,
            is_default=customer.default_payment_method_id == payment_method_id,
        )
    return payment_method_view(row, customer)


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= INVOICE_PAGE_MAX:
        raise invalid(f"limit must be between 1 and {INVOICE_PAGE_MAX}.", param="limit")
    return limit


def feature_off(what: str) -> BillStackError:
    return forbidden(f"{what} is turned off for this portal.", code="feature_disabled")


# --- mirror rows → view model ------------------------------------------------------------


def subscription_view(row: Subscription, names: Mapping[str, str] | None = None) -> SubscriptionView:
    """`names`: product names by price id (`plan_names`) for a change waiting for the period end."""
    return SubscriptionView(
        id=row.stripe_id,
        status=row.status,
        product_name=row.product_name,
        price_nickname=row.price_nickname,
        unit_amount=row.unit_amount,
        currency=row.currency,
        interval=row.interval,
        interval_count=row.interval_count,
        quantity=row.quantity,
        cancel_at_period_end=row.cancel_at_period_end,
        current_period_end=row.current_period_end,
        cancel_at=row.cancel_at,
        canceled_at=row.canceled_at,
        price_id=row.price_id,
        scheduled_change=_scheduled_change(row, names or {}),
        next_invoice=_next_invoice(row),
        discount=_discount(row),
        pause_collection=_pause_collection(row),
    )


def _discount(row: Subscription) -> DiscountView | None:
    if row.discount_coupon_id is None and row.discount_promotion_code is None:
        return None
    return DiscountView(
        coupon_id=row.discount_coupon_id,
        percent_off=row.discount_percent_off,
        amount_off=row.discount_amount_off,
        end=row.discount_end,
        promotion_code=row.discount_promotion_code,
    )


def _pause_collection(row: Subscription) -> PauseCollectionView | None:
    if row.pause_behavior is None:
        return None
    return PauseCollectionView(behavior=row.pause_behavior, resumes_at=row.pause_resumes_at)


def _next_invoice(row: Subscription) -> NextInvoiceView | None:
    """A subscription that will not renew (ended, or set to cancel) has no next payment,
    whatever an older preview left in the mirror."""
    if row.status not in LIVE_STATUSES or row.cancel_at_period_end:
        return None
    if row.next_invoice_amount is None or row.next_invoice_date is None:
        return None
    return NextInvoiceView(amount_due=row.next_invoice_amount, currency=row.currency, date=row.next_invoice_date)


def _scheduled_change(row: Subscription, names: Mapping[str, str]) -> ScheduledChangeView | None:
    if row.scheduled_price_id is None or row.scheduled_change_at is None:
        return None
    return ScheduledChangeView(
        price_id=row.scheduled_price_id,
        product_name=names.get(row.scheduled_price_id, row.scheduled_price_id),
        quantity=row.scheduled_quantity or row.quantity,
        at=row.scheduled_change_at,
    )


def invoice_view(row: Invoice) -> InvoiceView:
    return InvoiceView(
        id=row.stripe_id,
        number=row.number,
        status=row.status,
        created=row.created,
        total=row.total,
        amount_due=row.amount_due,
        currency=row.currency,
        # Stripe's links, checked on the way out like a tenant's: only http(s) becomes a link.
        invoice_pdf=safe_link(row.invoice_pdf),
        hosted_invoice_url=safe_link(row.hosted_invoice_url),
        description=row.description,
        due_date=row.due_date,
    )


def payment_method_view(row: PaymentMethod, customer: Customer) -> PaymentMethodView:
    return PaymentMethodView(
        id=row.stripe_id,
        brand=row.brand,
        last4=row.last4,
        exp_month=row.exp_month,
        exp_year=row.exp_year,
        is_default=row.stripe_id == customer.default_payment_method_id,
    )


def customer_details_view(db: Session, customer: Customer) -> CustomerDetails:
    """The customer's billing details: their mirror row and their tax ids (one query)."""
    tax_ids = db.exec(
        select(TaxId).where(TaxId.customer_id == customer.id).order_by(TaxId.created, TaxId.stripe_id)
    ).all()
    return CustomerDetails(
        name=customer.name,
        email=customer.email,
        phone=customer.phone,
        address=_address_view(customer),
        tax_ids=[tax_id_view(row) for row in tax_ids],
    )


def _address_view(customer: Customer) -> AddressView | None:
    address = AddressView(
        line1=customer.address_line1,
        line2=customer.address_line2,
        city=customer.address_city,
        state=customer.address_state,
        postal_code=customer.address_postal_code,
        country=customer.address_country,
    )
    return None if address == AddressView() else address


def tax_id_view(row: TaxId) -> TaxIdView:
    return TaxIdView(
        id=row.stripe_id,
        type=row.type,
        value=row.value,
        verification=TaxIdVerification(status=row.verification_status),
    )
