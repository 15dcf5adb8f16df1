"""`billstack project …`: one Stripe account, its branding, API keys and customers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from billstack.cli.output import CommandFailed, emit, fields, json_option, table
from billstack.cli.root import main
from billstack.cli.shapes import project_json
from billstack.cli.work import unit_of_work
from billstack.errors import BillStackError
from billstack.services import cancel_settings, plan_catalog, tenants
from billstack.services.setting_checks import LINK_BINDINGS
from billstack.services.views import CANCEL_REASONS, CUSTOMER_UPDATE_FIELDS

FEATURES = (
    ("cancel", "cancelling subscriptions at period end"),
    ("resume", "resuming subscriptions set to cancel"),
    ("invoice-history", "the invoice list"),
    ("payment-method-update", "updating the payment method"),
    ("plan-change", "switching plan (upgrade/downgrade) between the --plan-change-price prices"),
    ("quantity-change", "changing a subscription's quantity (see --quantity-min/--quantity-max)"),
    ("payment-method-remove", "removing a saved card (never the default one while a subscription is active)"),
    ("pause", "pausing payments (Stripe's pause_collection: void or mark_uncollectible, optional resume day) "
              "and resuming them"),
    ("promotion-code", "adding a promotion code to a subscription (Stripe's promotion_code update)"),
)
TEXT_OPTIONS = (
    ("--frame-ancestors", "Who may embed the portal (CSP frame-ancestors), e.g. \"'self' https://app.example.com\"."),
    ("--default-return-url", "Where \"Return to app\" goes when a session names none."),
    ("--privacy-url", "Privacy policy link."),
    ("--terms-url", "Terms of service link."),
    ("--support-url", "Support page link."),
    ("--support-email", "Support email address."),
    ("--accent-color", "Accent colour, #rrggbb."),
    ("--logo-url", "Logo image URL (https)."),
    ("--display-name", "Name shown in the portal header."),
)


def project_options(fn: Callable) -> Callable:
    """Branding, return-URL and feature options shared by `project create` and `project update`."""
    fn = plan_change_options(fn)
    fn = cancel_options(fn)
    for name, what in reversed(FEATURES):
        field = "feature_" + name.replace("-", "_")
        fn = click.option(f"--enable-{name}/--disable-{name}", field, default=None, help=f"Portal: {what}.")(fn)
    fn = click.option(
        "--allowed-return-origin",
        "allowed_return_origins",
        multiple=True,
        help="Origin a session's returnUrl may use, e.g. https://app.example.com (repeatable; replaces the list).",
    )(fn)
    fn = click.option(
        "--link-binding", type=click.Choice(LINK_BINDINGS), default=None,
        help="browser (the default): a portal link works only in the first browser that opens it "
             "(reloads too); none: in any browser until it expires.",
    )(fn)
    fn = click.option(
        "--customer-update-fields", "customer_update_fields", default=None, metavar="FIELDS",
        help=f"Billing details customers may edit: a comma-separated subset of "
             f"{','.join(CUSTOMER_UPDATE_FIELDS)} (default all; '' turns editing off).",
    )(fn)
    for flag, text in TEXT_OPTIONS:
        fn = click.option(flag, default=None, help=text)(fn)
    return fn


def plan_change_options(fn: Callable) -> Callable:
    """Stripe's `features.subscription_update`, field by field."""
    options = (
        click.option(
            "--plan-change-price", "plan_change_prices", multiple=True, metavar="PRICE_ID",
            help="A recurring Stripe price (price_…) customers may switch to, checked with Stripe "
                 "(repeatable, in display order; replaces the list; at most 10 products).",
        ),
        click.option(
            "--proration-behavior", type=click.Choice(plan_catalog.PRORATION_BEHAVIORS), default=None,
            help="How a plan change is billed: prorations on the next invoice (create_prorations, the "
                 "default), an invoice charged at once (always_invoice), or no proration (none).",
        ),
        click.option(
            "--schedule-at-period-end", multiple=True, type=click.Choice(plan_catalog.SCHEDULE_CONDITIONS),
            help="A change meeting this condition waits for the period end instead of applying now "
                 "(repeatable; replaces the list).",
        ),
        click.option("--quantity-min", type=int, default=None, metavar="N",
                     help="Lowest quantity a customer may choose (at least 1; default 1)."),
        click.option("--quantity-max", default=None, metavar="N",
                     help="Highest quantity a customer may choose (up to 10000; '' for no maximum)."),
    )
    for option in reversed(options):
        fn = option(fn)
    return fn


def cancel_options(fn: Callable) -> Callable:
    """Stripe's `features.subscription_cancel` and the retention offer."""
    options = (
        click.option(
            "--cancel-mode", type=click.Choice(cancel_settings.CANCEL_MODES), default=None,
            help="When a cancel takes effect: at the period end (at_period_end, the default; the customer "
                 "may resume until then) or now (immediately; cannot be resumed).",
        ),
        click.option(
            "--cancel-proration", type=click.Choice(cancel_settings.CANCEL_PRORATIONS), default=None,
            help="With --cancel-mode immediately: credit the unused time to the customer's balance "
                 "(create_prorations) or not (none, the default).",
        ),
        click.option(
            "--cancel-reasons", default=None, metavar="REASONS",
            help=f"Reasons customers choose from when they cancel: a comma-separated subset of "
                 f"{','.join(CANCEL_REASONS)} (default all; '' does not ask).",
        ),
        click.option(
            "--retention-coupon", default=None, metavar="COUPON_ID",
            help="A Stripe coupon offered once before a cancel is confirmed (checked with Stripe: it must "
                 "exist and be valid); accepting applies it instead of cancelling. '' removes the offer.",
        ),
    )
    for option in reversed(options):
        fn = option(fn)
    return fn


# Repeatable options that replace a list (field, option) and the `project update` flag that empties it.
_LIST_OPTIONS = (
    ("allowed_return_origins", "--allowed-return-origin", "clear_allowed_return_origins"),
    ("plan_change_prices", "--plan-change-price", "clear_plan_change_prices"),
    ("schedule_at_period_end", "--schedule-at-period-end", "clear_schedule_at_period_end"),
)


def _project_options(values: dict[str, Any]) -> dict[str, Any]:
    for field, _flag, clear in _LIST_OPTIONS:
        given = values.pop(field, ())
        if values.pop(clear, False):
            values[field] = []
        elif given:
            values[field] = list(given)
    return {key: value for key, value in values.items() if value is not None}


def _secret(value: str | None, flag: str) -> str | None:
    """`-` reads the secret from stdin (one line), keeping it off the command line."""
    if value != "-":
        return value
    line = click.get_text_stream("stdin").readline().strip()
    if not line:
        raise CommandFailed(f"{flag} -: expected the secret on stdin, got nothing.", param=flag.lstrip("-"))
    return line


def _project_secrets(stripe_secret_key: str | None, webhook_secret: str | None) -> dict[str, str | None]:
    """The project's two secret options, either of them (not both: stdin has one line) `-`."""
    if stripe_secret_key == "-" and webhook_secret == "-":
        raise CommandFailed("only one secret can be read from stdin per command.", param="webhookSecret")
    return {
        "stripe_secret_key": _secret(stripe_secret_key, "--stripe-secret-key"),
        "webhook_secret": _secret(webhook_secret, "--webhook-secret"),
    }


# What stripe_gateway.check_credentials raises when a key or API base cannot work.
STRIPE_CHECK_FAILURES = ("stripe_unreachable", "stripe_key_invalid")


def verify_option(fn: Callable) -> Callable:
    return click.option(
        "--verify/--no-verify",
        "verify_stripe",
        default=True,
        show_default=True,
        help="Check the Stripe key and API base with one cheap Stripe call before saving them.",
    )(fn)


def _saved_unless_stripe_refuses(save: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`save()`'s result; a failed Stripe check says how to save without it."""
    try:
        return save()
    except BillStackError as exc:
        if exc.code not in STRIPE_CHECK_FAILURES:
            raise
        raise CommandFailed(
            f"{exc.message} Nothing was saved (--no-verify saves it without this check).",
            code=exc.code, type=exc.type, param=exc.param,
        ) from exc


def _project_lines(data: dict[str, Any]) -> list[str]:
    features = ", ".join(
        f"{label} {'on' if data['features'][key] else 'off'}"
        for key, label in (
            ("cancel", "cancel"),
            ("resume", "resume"),
            ("invoiceHistory", "invoice history"),
            ("paymentMethodUpdate", "payment method update"),
            ("planChange", "plan change"),
            ("paymentMethodRemove", "payment method remove"),
        )
    )
    update = data["customerUpdate"]
    details = ", ".join(update["allowedUpdates"]).replace("tax_id", "tax id")
    return fields(
        [
            ("Team", data["teamId"]),
            ("Name", data["name"]),
            ("Display name", data["displayName"]),
            ("Logo URL", data["logoUrl"]),
            ("Accent colour", data["accentColor"]),
            ("Support email", data["supportEmail"]),
            ("Support URL", data["supportUrl"]),
            ("Terms URL", data["termsUrl"]),
            ("Privacy URL", data["privacyUrl"]),
            ("Default return URL", data["defaultReturnUrl"]),
            ("Allowed return origins", " ".join(data["allowedReturnOrigins"])),
            ("Frame ancestors", data["frameAncestors"]),
            ("Link binding", data["linkBinding"]),
            ("Features", features),
            ("Customer update", f"on ({details})" if update["enabled"] else "off (customers cannot edit billing details)"),
            *_plan_change_lines(data["subscriptionUpdate"]),
            *_cancel_lines(data["subscriptionCancel"]),
            ("Stripe secret key", f"set ({data['stripeMode']} mode)"),
            ("Stripe API base", data["stripeApiBase"] or "https://api.stripe.com (default)"),
            ("Webhook secret", "set" if data["webhookSecret"] else "not set"),
            ("Created", data["createdAt"]),
        ]
    )


def _plan_change_lines(update: dict[str, Any]) -> list[tuple[str, str]]:
    prices = [
        f"{p['priceId']} ({p['productName']}, {p['unitAmount']} {p['currency']} / "
        f"{'' if p['intervalCount'] == 1 else str(p['intervalCount']) + ' '}{p['interval']})"
        for p in update["prices"]
    ]
    quantity = update["quantity"]
    limits = f"min {quantity['min']}, max {quantity['max'] if quantity['max'] is not None else 'none'}"
    return [
        ("Plan change prices", "; ".join(prices) or "none (customers have no plan to switch to)"),
        ("Proration behavior", update["prorationBehavior"]),
        ("Schedule at period end", ", ".join(update["scheduleAtPeriodEnd"]) or "never (changes apply now)"),
        ("Quantity change", f"{'on' if quantity['enabled'] else 'off'} ({limits})"),
    ]


def _cancel_lines(cancel: dict[str, Any]) -> list[tuple[str, str]]:
    offer = cancel["retention"]
    if offer is None:
        retention = "none"
    else:
        off = f"{offer['percentOff']:g} %" if offer["percentOff"] is not None \
            else f"{offer['amountOff']} {offer['currency']}"
        months = f" for {offer['durationInMonths']} months" if offer["duration"] == "repeating" else ""
        retention = f"{offer['couponId']} ({off} off, {offer['duration']}{months})"
    return [
        ("Cancel mode", cancel["mode"]),
        ("Cancel proration", cancel["prorationBehavior"]),
        ("Cancel reasons", ", ".join(cancel["reasons"]) or "not asked"),
        ("Retention coupon", retention),
    ]


@main.group(short_help="Projects: a Stripe account, its branding and keys.")
def project() -> None:
    """Projects: one Stripe account, its branding, API keys and customers."""


@project.command("create")
@click.option("--team", "team_id", required=True, help="Team id (team_…).")
@click.option("--name", required=True, help="Project name.")
@click.option("--stripe-secret-key", required=True, help="sk_test_…/sk_live_… (or rk_…); '-' reads it from stdin.")
@click.option("--stripe-api-base", default=None, help="Stripe API base URL (default: api.stripe.com).")
@click.option("--webhook-secret", default=None, help="Webhook signing secret whsec_…; '-' reads it from stdin.")
@verify_option
@project_options
@json_option
def project_create(
    team_id: str,
    name: str,
    stripe_secret_key: str,
    stripe_api_base: str | None,
    webhook_secret: str | None,
    verify_stripe: bool,
    **options: Any,
) -> None:
    """Create a project. The Stripe key and webhook secret are stored sealed and never shown again.

    First one cheap Stripe call (list one customer) checks that the key works at the API
    base: if Stripe cannot be reached there or refuses the key, nothing is saved (exit 1,
    the error names the URL). --no-verify skips the check.
    """
    secrets = _project_secrets(stripe_secret_key, webhook_secret)

    def save() -> dict[str, Any]:
        with unit_of_work() as session:
            created = tenants.create_project(
                session, team_id=team_id, name=name, stripe_api_base=stripe_api_base, **secrets,
                verify_stripe=verify_stripe, **_project_options(options),
            )
            return project_json(created, plan_catalog.plan_prices(session, created.id))

    data = _saved_unless_stripe_refuses(save)
    emit(data, [f"Created project {data['id']} ({data['name']}).", *_project_lines(data)])


@project.command("update", short_help="Change a project's settings (the rest stay as they are).")
@click.argument("project_id")
@click.option("--name", default=None, help="Project name.")
@click.option("--stripe-secret-key", default=None, help="Replace the Stripe secret key; '-' reads it from stdin.")
@click.option("--stripe-api-base", default=None, help="Stripe API base URL ('' for api.stripe.com).")
@click.option("--webhook-secret", default=None, help="Replace the webhook signing secret ('' removes it; '-' reads stdin).")
@verify_option
@project_options
@click.option("--clear-allowed-return-origins", is_flag=True, help="Empty the list of allowed return origins.")
@click.option("--clear-plan-change-prices", is_flag=True, help="Empty the list of plan-change prices.")
@click.option("--clear-schedule-at-period-end", is_flag=True, help="Apply every plan change now (no conditions).")
@json_option
def project_update(
    project_id: str,
    stripe_secret_key: str | None,
    stripe_api_base: str | None,
    webhook_secret: str | None,
    verify_stripe: bool,
    **options: Any,
) -> None:
    """Change a project's settings; options not given stay as they are ('' clears an optional text).

    A new Stripe key or API base is checked with one cheap Stripe call first, as by
    `project create` (--no-verify skips it).
    """
    for field, flag, clear in _LIST_OPTIONS:
        if options.get(field) and options.get(clear):
            raise CommandFailed(
                f"{flag} and --{clear.replace('_', '-')} contradict each other.",
                code="usage_error",
                type="usage_error",
                exit_code=2,
            )
    secrets = _project_secrets(stripe_secret_key, webhook_secret)

    def save() -> dict[str, Any]:
        with unit_of_work() as session:
            updated = tenants.update_project(
                session, project_id, stripe_api_base=stripe_api_base, **secrets, verify_stripe=verify_stripe,
                **_project_options(options),
            )
            return project_json(updated, plan_catalog.plan_prices(session, updated.id))

    data = _saved_unless_stripe_refuses(save)
    emit(data, [f"Updated project {data['id']} ({data['name']}).", *_project_lines(data)])


@project.command("show")
@click.argument("project_id")
@json_option
def project_show(project_id: str) -> None:
    """Show a project's settings (secrets only as set / not set)."""
    with unit_of_work() as session:
        project = tenants.get_project(session, project_id)
        data = project_json(project, plan_catalog.plan_prices(session, project.id))
    emit(data, [f"Project {data['id']} ({data['name']})", *_project_lines(data)])


@project.command("list")
@click.option("--team", "team_id", default=None, help="Only this team's projects.")
@json_option
def project_list(team_id: str | None) -> None:
    """List projects."""
    with unit_of_work() as session:
        data = [project_json(p, plan_catalog.plan_prices(session, p.id)) for p in tenants.list_projects(session, team_id)]
    rows = [(p["id"], p["teamId"], p["name"], p["stripeMode"], p["createdAt"]) for p in data]
    emit({"object": "list", "data": data}, table(rows, ("ID", "TEAM", "NAME", "STRIPE", "CREATED"), "No projects yet."))
