"""The "Billing information" section: the customer's details with their edit form, and the
tax ids with their add form and remove confirmation (state/billing_details.py)."""

from __future__ import annotations

import reflex as rx

from billstack.components.layout import (
    accent_button,
    destructive_actions,
    destructive_dialog,
    dialog_error,
    label,
    section,
    spinner_while,
)
from billstack.presenters import TaxIdRow
from billstack.state.billing_details import ADD_TAX_ID_BUTTON_ID, EDIT_BUTTON_ID, CountryChoice, TaxTypeChoice
from billstack.state.portal import PortalState as S


def _field_error(field: str) -> rx.Component:
    """The server's refusal of this field, right under it (announced as it appears)."""
    return rx.cond(
        S.field_errors.contains(field),
        rx.text(S.field_errors[field], id=f"details-{field}-error", role="alert", size="1", color_scheme="red",
                high_contrast=True, weight="medium"),
    )


def _text_field(field: str, text_key: str, default: rx.Var | str, *, input_type: str = "text",
                autocomplete: str = "off") -> rx.Component:
    invalid = S.field_errors.contains(field)
    return rx.flex(
        rx.el.label(label(text_key), html_for=f"details-{field}", class_name="rt-Text rt-r-size-2 rt-r-weight-medium"),
        rx.input(
            id=f"details-{field}",
            name=field,
            type=input_type,
            default_value=default,
            auto_complete=autocomplete,
            aria_invalid=rx.cond(invalid, "true", "false"),
            aria_describedby=rx.cond(invalid, f"details-{field}-error", ""),
            color_scheme=rx.cond(invalid, "red", "gray"),
            size="3",
            width="100%",
        ),
        _field_error(field),
        direction="column",
        spacing="1",
        width="100%",
    )


def _country_item(country: CountryChoice) -> rx.Component:
    return rx.select.item(country.name, value=country.code)


def _country_field() -> rx.Component:
    invalid = S.field_errors.contains("country")
    return rx.flex(
        rx.el.label(label("details.country"), html_for="details-country", id="details-country-label",
                    class_name="rt-Text rt-r-size-2 rt-r-weight-medium"),
        rx.select.root(
            rx.select.trigger(
                id="details-country",
                placeholder=label("details.country_choose"),
                aria_labelledby="details-country-label details-country",
                aria_invalid=rx.cond(invalid, "true", "false"),
                aria_describedby=rx.cond(invalid, "details-country-error", ""),
                color=rx.cond(invalid, "red", "gray"),
                width="100%",
            ),
            rx.select.content(rx.foreach(S.countries, _country_item), position="popper"),
            value=S.form_country,
            on_change=S.set_form_country,
            size="3",
        ),
        _field_error("country"),
        direction="column",
        spacing="1",
        width="100%",
    )


def _address_fields() -> rx.Component:
    return rx.el.fieldset(
        rx.el.legend(label("details.address"), class_name="rt-Text rt-r-size-2 rt-r-weight-bold"),
        rx.flex(
            _text_field("line1", "details.line1", S.form_address["line1"], autocomplete="address-line1"),
            _text_field("line2", "details.line2", S.form_address["line2"], autocomplete="address-line2"),
            rx.grid(
                _text_field("postal_code", "details.postal_code", S.form_address["postal_code"],
                            autocomplete="postal-code"),
                _text_field("city", "details.city", S.form_address["city"], autocomplete="address-level2"),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="3",
                width="100%",
            ),
            _text_field("state", "details.state", S.form_address["state"], autocomplete="address-level1"),
            _country_field(),
            direction="column",
            spacing="3",
        ),
        class_name="details-address",
        style={"border": "none", "padding": "0", "margin": "0", "min_width": "0"},
    )


def _read_only(text_key: str, value: rx.Component) -> rx.Component:
    return rx.flex(
        rx.text(label(text_key), size="2", weight="medium"),
        value,
        direction="column",
        spacing="1",
        class_name="details-read-only",
    )


def _form_actions(submit_key: str, busy: rx.Var, on_cancel: rx.EventHandler) -> rx.Component:
    """Cancel (closes the form) and the submit button, which spins while `busy`."""
    return rx.flex(
        rx.button(label("details.cancel"), type="button", variant="soft", color_scheme="gray",
                  disabled=S.pending != "", on_click=on_cancel),
        accent_button(spinner_while(busy), label(submit_key), type="submit", disabled=S.pending != ""),
        spacing="3",
        justify="end",
        class_name="dialog-actions",
    )


def details_form() -> rx.Component:
    return rx.el.form(
        rx.flex(
            # A field the project keeps out of the customer's hands is shown, not offered.
            rx.cond(S.edit_name, _text_field("name", "details.name", S.details_name, autocomplete="name"),
                    _read_only("details.name", _or_not_given(S.details_name))),
            rx.cond(S.edit_email, _text_field("email", "details.email", S.details_email, input_type="email",
                                              autocomplete="email"),
                    _read_only("details.email", _or_not_given(S.details_email))),
            rx.cond(S.edit_phone, _text_field("phone", "details.phone", S.details_phone, input_type="tel",
                                              autocomplete="tel"),
                    _read_only("details.phone", _or_not_given(S.details_phone))),
            rx.cond(S.edit_address, _address_fields(), _read_only("details.address", _address_lines())),
            dialog_error(),
            _form_actions("details.save", S.pending == "details", S.close_details_form),
            direction="column",
            spacing="4",
        ),
        on_submit=S.save_details,
        reset_on_submit=False,
        no_validate=True,  # the server checks every value and says which one it refused
        aria_label=label("details.edit_title"),
        class_name="details-form",
    )


def _detail(text_key: str, *value: rx.Component | rx.Var) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label(text_key), min_width="120px"),
        rx.data_list.value(*value),
        align="start",
    )


def _not_given() -> rx.Component:
    return rx.text(label("details.none"), color_scheme="gray", high_contrast=True)


def _or_not_given(value: rx.Var) -> rx.Component:
    return rx.cond(value != "", rx.text(value), _not_given())


def _address_lines() -> rx.Component:
    return rx.cond(
        S.details_address.length() > 0,
        rx.flex(rx.foreach(S.details_address, lambda line: rx.text(line)), direction="column"),
        _not_given(),
    )


def details_summary() -> rx.Component:
    address = _address_lines()
    return rx.flex(
        rx.data_list.root(
            _detail("details.name", _or_not_given(S.details_name)),
            _detail("details.email", _or_not_given(S.details_email)),
            _detail("details.phone", _or_not_given(S.details_phone)),
            _detail("details.address", address),
            orientation=rx.breakpoints(initial="vertical", sm="horizontal"),
            class_name="details-list",
        ),
        rx.cond(
            S.can_edit_details,
            rx.button(label("details.edit"), variant="outline", color_scheme="gray", disabled=S.pending != "",
                      on_click=S.open_details_form, aria_label=label("details.edit_title"), id=EDIT_BUTTON_ID),
        ),
        justify="between",
        align="start",
        wrap="wrap",
        spacing="3",
    )


# --- tax ids -------------------------------------------------------------------------------


def tax_id_item(row: TaxIdRow) -> rx.Component:
    return rx.flex(
        rx.flex(
            rx.text(row.type_label, size="2", weight="medium"),
            rx.text(row.value, size="2", class_name="tax-id-value"),
            rx.badge(row.status_label, color_scheme=row.status_color, variant="soft", high_contrast=True),
            align="center",
            spacing="2",
            wrap="wrap",
        ),
        rx.cond(
            S.edit_tax_ids,
            rx.button(label("taxid.remove"), variant="outline", color_scheme="gray", size="2",
                      disabled=S.pending != "", on_click=S.open_tax_remove(row.id), aria_label=row.remove_label),
        ),
        justify="between",
        align="center",
        wrap="wrap",
        spacing="2",
        class_name="tax-id-item",
        data_tax_id=row.id,
        width="100%",
    )


def _tax_type_item(choice: TaxTypeChoice) -> rx.Component:
    return rx.select.item(choice.label, value=choice.value)


def tax_id_form() -> rx.Component:
    invalid = S.tax_error != ""
    return rx.el.form(
        rx.flex(
            rx.flex(
                rx.el.label(label("taxid.type"), html_for="taxid-type", id="taxid-type-label",
                            class_name="rt-Text rt-r-size-2 rt-r-weight-medium"),
                rx.select.root(
                    rx.select.trigger(id="taxid-type", aria_labelledby="taxid-type-label taxid-type", width="100%"),
                    rx.select.content(rx.foreach(S.tax_types, _tax_type_item), position="popper"),
                    value=S.tax_type,
                    on_change=S.set_tax_type,
                    size="3",
                ),
                direction="column",
                spacing="1",
            ),
            rx.flex(
                rx.el.label(label("taxid.value"), html_for="taxid-value",
                            class_name="rt-Text rt-r-size-2 rt-r-weight-medium"),
                rx.input(id="taxid-value", name="value", auto_complete="off", size="3", width="100%",
                         aria_invalid=rx.cond(invalid, "true", "false"),
                         aria_describedby=rx.cond(invalid, "taxid-value-error", ""),
                         color_scheme=rx.cond(invalid, "red", "gray")),
                rx.cond(invalid, rx.text(S.tax_error, id="taxid-value-error", role="alert", size="1",
                                         color_scheme="red", high_contrast=True, weight="medium")),
                direction="column",
                spacing="1",
            ),
            dialog_error(),
            _form_actions("taxid.add_submit", S.pending == "taxid", S.close_tax_form),
            direction="column",
            spacing="3",
        ),
        on_submit=S.add_tax_id,
        reset_on_submit=False,
        aria_label=label("taxid.add"),
        class_name="tax-id-form",
    )


def tax_remove_dialog() -> rx.Component:
    return destructive_dialog(
        label("taxid.remove_title"),
        rx.alert_dialog.description(S.labels["taxid.remove_body"].to(str).replace("{tax_id}", S.tax_remove_name)),
        actions=destructive_actions("taxid.keep", "taxid.confirm_remove", S.pending == "taxid-remove",
                                    S.confirm_tax_remove),
        open=S.tax_remove_open,
        on_open_change=S.set_tax_remove_open,
    )


def tax_ids_block() -> rx.Component:
    return rx.flex(
        rx.heading(label("taxid.heading"), as_="h3", size="3", id="tax-ids-heading"),
        rx.cond(
            S.tax_ids.length() > 0,
            rx.flex(rx.foreach(S.tax_ids, tax_id_item), direction="column", spacing="2", width="100%"),
            rx.text(label("taxid.empty"), size="2", color_scheme="gray", high_contrast=True),
        ),
        rx.cond(
            S.edit_tax_ids,
            rx.cond(
                S.tax_form_open,
                tax_id_form(),
                rx.box(rx.button(label("taxid.add"), variant="outline", color_scheme="gray",
                                 disabled=S.pending != "", on_click=S.open_tax_form, id=ADD_TAX_ID_BUTTON_ID)),
            ),
        ),
        direction="column",
        spacing="3",
        width="100%",
        role="group",
        aria_labelledby="tax-ids-heading",
    )


def billing_details_section() -> rx.Component:
    return rx.cond(
        S.has_details,
        section(
            "details.heading",
            rx.card(
                rx.flex(
                    rx.cond(S.details_form_open, details_form(), details_summary()),
                    rx.separator(size="4"),
                    tax_ids_block(),
                    direction="column",
                    spacing="4",
                ),
                width="100%",
            ),
            tax_remove_dialog(),
            section_id="billing-details",
        ),
    )
