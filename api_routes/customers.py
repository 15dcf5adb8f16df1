"""Customers API: a SaaS backend creates, finds and removes its customers (pc_…) with the
project's API key, so a sign-up needs no operator at a shell.

Thin: parse, authenticate (ProjectAuth, as the session API), count the call against the
key's rate limit, one service call, shape the answer. The CLI's `billstack customer …`
commands call the same services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Response, status
from pydantic import Field, StrictBool

from api_routes.deps import ProjectAuth, ProjectCaller
from api_routes.schemas import RequestBody, ResponseBody, error_responses
from billstack import routes
from billstack.clock import to_iso_z
from billstack.services import customers, sessions
from billstack.services.views import ISO_Z_PATTERN

router = APIRouter(prefix=routes.API_PREFIX, tags=["Customers"])
T = TypeVar("T")

class CreateCustomerRequest(RequestBody):
    email: str | None = Field(default=None, examples=["ada@example.com"],
                              description="Creates a new Stripe customer with this email. Required unless "
                              "`stripeCustomerId` is given.")
    name: str | None = Field(default=None, max_length=200, examples=["Ada Lovelace"])
    external_id: str | None = Field(default=None, max_length=customers.EXTERNAL_ID_MAX, examples=["user_42"],
                                    description="Your own id for this customer (e.g. your user id): up to 200 "
                                    "printable characters, unique in the project.")
    stripe_customer_id: str | None = Field(default=None, max_length=255, examples=["cus_Q1w2E3r4T5y6U7"],
                                           description="Links this existing customer of the project's Stripe "
                                           "account instead of creating one (its email and name come from Stripe).")
    allow_duplicate_email: StrictBool = Field(default=False, description="Create a customer even if the email "
                                              "already has one in the project (otherwise 409).")


class UpdateCustomerRequest(RequestBody):
    external_id: str | None = Field(max_length=customers.EXTERNAL_ID_MAX, examples=["user_42"],
                                    description="Your own id for this customer; `null` clears it.")


class ListCustomersQuery(RequestBody):
    external_id: str | None = Field(default=None, description="Only the customer with this external id.")
    stripe_customer_id: str | None = Field(default=None, description="Only the customer linked to this `cus_…`.")
    email: str | None = Field(default=None, description="Only customers with this email (any letter case).")
    limit: int = Field(default=customers.LIST_LIMIT_DEFAULT, ge=1, le=customers.LIST_LIMIT_MAX,
                       description="Page size, 1 to 100.")
    starting_after: str | None = Field(default=None, description="The last `id` of the previous page.")


class CustomerOut(ResponseBody):
    id: str = Field(examples=["pc_7Hq2LmX9aBcDeFgHiJkL"])
    stripe_customer_id: str = Field(examples=["cus_Q1w2E3r4T5y6U7"])
    email: str | None = Field(examples=["ada@example.com"])
    name: str | None = Field(examples=["Ada Lovelace"])
    external_id: str | None = Field(examples=["user_42"])
    created_at: str = Field(pattern=ISO_Z_PATTERN, examples=["2026-03-30T12:00:00Z"])


class CustomerList(ResponseBody):
    data: list[CustomerOut]
    has_more: bool = Field(description="More customers follow: pass the last `id` as `startingAfter`.")


class CustomerDeleted(ResponseBody):
    id: str = Field(examples=["pc_7Hq2LmX9aBcDeFgHiJkL"])
    deleted: Literal[True] = True


_ERRORS = {
    400: "Invalid body or parameter, or an unknown one (`param` names the field).",
    401: "Missing, malformed, unknown or revoked API key.",
    403: "The key is valid but not for this team and project.",
    404: "No such customer in this project (or, on create, no such Stripe customer: `param` "
         "`stripeCustomerId`).",
    429: "Rate limited; see `Retry-After`.",
}
_CONFLICT = {409: "The externalId belongs to another customer (or another email), or the email already has a "
                  "customer (`param` `allowDuplicateEmail`). Nothing was created."}
_STRIPE = {502: "Stripe refused the project's secret key.", 503: "Stripe is unavailable; nothing was changed."}
_CREATE_DESCRIPTION = """
Creates a customer in Stripe and in BillStack (`email`, `name`?, `externalId`?), or links an
existing Stripe customer of the project's account (`stripeCustomerId`, `externalId`?).

- **Idempotent**, so a retried sign-up is safe: when a customer with this `externalId` (and the
  same email) or this `stripeCustomerId` exists, it is returned with **200** and nothing is
  created in Stripe. New customers answer **201**.
- The same `externalId` with another email or Stripe customer: 409.
- A `stripeCustomerId` that Stripe does not know: 404 `resource_missing`, `param: "stripeCustomerId"`.
- Unknown fields are refused (400 `parameter_unknown`). Rate limited per API key, with
  session creation (429 with `Retry-After`).
"""


def customer_out(customer: Any) -> CustomerOut:
    return CustomerOut(id=customer.id, stripe_customer_id=customer.stripe_customer_id, email=customer.email,
                       name=customer.name, external_id=customer.external_id,
                       created_at=to_iso_z(customer.created_at))


def _counted(project: ProjectCaller, action: Callable[[Any], T]) -> T:
    """`action(db)` once the key is authenticated and the call counted against its rate limit."""
    def run(db: Any, _key_id: str) -> T:
        customers.count_api_call(sessions.rate_limit_key(project.api_key))
        return action(db)

    return project.run(run)


@router.post(
    routes.CUSTOMERS_ROUTE,
    response_model=CustomerOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": CustomerOut, "description": "The customer existed already (same `externalId` "
                     "or `stripeCustomerId`); nothing was created."},
               **error_responses({**_ERRORS, **_CONFLICT, **_STRIPE})},
    summary="Create or link a customer",
    description=_CREATE_DESCRIPTION,
    operation_id="createCustomer",
)
def create_customer(body: CreateCustomerRequest, project: ProjectAuth, response: Response) -> CustomerOut:
    customer, created = _counted(project, lambda db: customers.create_or_link_customer(
        db, project_id=project.project_id, email=body.email, name=body.name, external_id=body.external_id,
        stripe_customer_id=body.stripe_customer_id, allow_duplicate_email=body.allow_duplicate_email,
    ))
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return customer_out(customer)


@router.get(
    routes.CUSTOMERS_ROUTE,
    response_model=CustomerList,
    responses=error_responses(_ERRORS),
    summary="List or find customers",
    description="The project's customers, newest first, filtered by any of `externalId`, `stripeCustomerId` and "
    "`email`; paged with `limit` and `startingAfter`. Unknown query parameters are refused (400 "
    "`parameter_unknown`).",
    operation_id="listCustomers",
)
def list_customers(query: Annotated[ListCustomersQuery, Query()], project: ProjectAuth) -> CustomerList:
    rows, has_more = _counted(project, lambda db: customers.list_customers_page(
        db, project_id=project.project_id, external_id=query.external_id,
        stripe_customer_id=query.stripe_customer_id, email=query.email, limit=query.limit,
        starting_after=query.starting_after,
    ))
    return CustomerList(data=[customer_out(row) for row in rows], has_more=has_more)


@router.get(
    routes.CUSTOMER_ROUTE,
    response_model=CustomerOut,
    responses=error_responses(_ERRORS),
    summary="Get a customer",
    operation_id="getCustomer",
)
def get_customer(customerId: str, project: ProjectAuth) -> CustomerOut:  # noqa: N803
    return customer_out(_counted(project, lambda db: customers.get_customer(
        db, project_id=project.project_id, customer_id=customerId)))


@router.patch(
    routes.CUSTOMER_ROUTE,
    response_model=CustomerOut,
    responses=error_responses({**_ERRORS, 409: "The externalId belongs to another customer of the project."}),
    summary="Set a customer's externalId",
    description="Sets (or, with `null`, clears) the customer's `externalId`.",
    operation_id="updateCustomer",
)
def update_customer(customerId: str, body: UpdateCustomerRequest, project: ProjectAuth) -> CustomerOut:  # noqa: N803
    return customer_out(_counted(project, lambda db: customers.set_external_id(
        db, project_id=project.project_id, customer_id=customerId, external_id=body.external_id)))


@router.delete(
    routes.CUSTOMER_ROUTE,
    response_model=CustomerDeleted,
    responses=error_responses(_ERRORS),
    summary="Remove a customer",
    description="Unlinks the customer from the project and revokes every portal session of it at once, "
    "as `billstack customer remove` does. The Stripe customer is left alone (linking it again "
    "brings back the same `pc_…` id, without its old sessions).",
    operation_id="deleteCustomer",
)
def delete_customer(customerId: str, project: ProjectAuth) -> CustomerDeleted:  # noqa: N803
    removed = _counted(project, lambda db: customers.remove_customer(
        db, project_id=project.project_id, customer_id=customerId))
    return CustomerDeleted(id=removed.id)
