"""`billstack customer …`: a project's handle (pc_…) on one Stripe customer."""

from __future__ import annotations

import click

from billstack.cli.output import emit, json_option, table
from billstack.cli.root import main
from billstack.cli.shapes import customer_json
from billstack.cli.work import unit_of_work
from billstack.services import customers


@main.group(short_help="BillStack customers (pc_…) of a project.")
def customer() -> None:
    """BillStack customers (pc_…): a project's handle on one Stripe customer."""


@customer.command("create", short_help="Create a customer in Stripe and in BillStack.")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@click.option("--email", required=True, help="Customer email.")
@click.option("--name", default=None, help="Customer name.")
@click.option("--allow-duplicate-email", is_flag=True,
              help="Create it even if the email already has a customer in the project (a second Stripe customer).")
@json_option
def customer_create(project_id: str, email: str, name: str | None, allow_duplicate_email: bool) -> None:
    """Create the customer in Stripe and in BillStack (nothing is stored if Stripe fails).

    An email that already has a customer in the project is refused (exit 1, nothing
    created in Stripe): pass --allow-duplicate-email to create a second one anyway.
    """
    with unit_of_work() as session:
        same_email = customers.customers_with_email(session, project_id=project_id, email=email)
        created = customers.create_customer(
            session, project_id=project_id, email=email, name=name, allow_duplicate_email=allow_duplicate_email
        )
        data = customer_json(created)
    warnings = [
        f"{data['email']} now has {len(same_email) + 1} customers in this project "
        f"({', '.join([*(c.id for c in same_email), data['id']])}), each its own Stripe customer and portal."
    ] if same_email else []
    emit(data, f"Created customer {data['id']} ({data['email']}) for Stripe customer {data['stripeCustomerId']}.",
         warnings)


@customer.command("link", short_help="Link an existing Stripe customer to the project.")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@click.option("--stripe-customer", "stripe_customer_id", required=True, help="Existing Stripe customer id (cus_…).")
@json_option
def customer_link(project_id: str, stripe_customer_id: str) -> None:
    """Link an existing Stripe customer to the project (once per project)."""
    with unit_of_work() as session:
        linked = customers.link_customer(session, project_id=project_id, stripe_customer_id=stripe_customer_id)
        data = customer_json(linked)
    emit(data, f"Linked Stripe customer {data['stripeCustomerId']} as {data['id']} ({data['email'] or 'no email'}).")


@customer.command("list")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@json_option
def customer_list(project_id: str) -> None:
    """List the project's customers."""
    with unit_of_work() as session:
        data = [customer_json(c) for c in customers.list_customers(session, project_id)]
    rows = [(c["id"], c["stripeCustomerId"], c["email"], c["name"], c["createdAt"]) for c in data]
    emit(
        {"object": "list", "data": data},
        table(rows, ("ID", "STRIPE CUSTOMER", "EMAIL", "NAME", "CREATED"), "No customers in this project."),
    )


@customer.command("remove", short_help="Remove a customer from the project (Stripe keeps it).")
@click.option("--project", "project_id", required=True, help="Project id (proj_…).")
@click.argument("customer_id")
@json_option
def customer_remove(project_id: str, customer_id: str) -> None:
    """Remove a customer from the project: portal links stop working; Stripe is untouched."""
    with unit_of_work() as session:
        data = customer_json(customers.remove_customer(session, project_id=project_id, customer_id=customer_id))
    emit(
        data,
        f"Removed customer {data['id']} from project {project_id}; its portal links stop working. "
        f"The Stripe customer {data['stripeCustomerId']} is unchanged.",
    )
