"""Billing information on the portal page: the customer's details, the edit form and the
tax ids (Stripe's `features.customer_update`).

A state mixin of `PortalState` (state/portal.py), like state/plans.py: its handlers share the
page's token checks (`_run`), notices (`_show_failure`) and the one `pending` lock. The
services decide which fields may change and check them with Stripe
(services/portal/billing_details.py); a refusal that names a field (`param`) is shown next
to that field, anything else above the form.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import reflex as rx

from billstack import presenters
from billstack.errors import BillStackError, customer_message
from billstack.i18n import countries, t
from billstack.services.portal import billing_details as details_service
from billstack.services.portal.billing_details import AddressUpdate, DetailsUpdate
from billstack.services.portal_calls import Work
from billstack.services.views import TAX_ID_TYPES, CustomerDetails, Features

# The form's input a refusal's `param` names (`address.country` → the country select).
# The "Edit" button's id: the focus goes back to it when the form closes.
EDIT_BUTTON_ID = "details-edit"
ADD_TAX_ID_BUTTON_ID = "taxid-add"
_PARAM_TO_FIELD = {
    "name": "name", "email": "email", "phone": "phone", "address.line1": "line1", "address.line2": "line2",
    "address.city": "city", "address.state": "state", "address.postalCode": "postal_code",
    "address.postal_code": "postal_code", "address.country": "country", "address": "line1",
}


@dataclass
class CountryChoice:
    code: str = ""
    name: str = ""


@dataclass
class TaxTypeChoice:
    value: str = ""
    label: str = ""


class BillingDetailsMixin(rx.State, mixin=True):
    # What the section shows.
    details_name: str = ""
    details_email: str = ""
    details_phone: str = ""
    details_address: list[str] = []
    details_country: str = ""  # ISO code of the address's country ("" none)
    tax_ids: list[presenters.TaxIdRow] = []
    has_details: bool = False  # the service described the customer's details (the section shows)
    form_address: dict[str, str] = {}  # the address as the form starts it (line1, city …)

    # Which fields the project lets the customer change.
    edit_name: bool = False
    edit_email: bool = False
    edit_phone: bool = False
    edit_address: bool = False
    edit_tax_ids: bool = False

    # The details form (uncontrolled inputs submitted together; the country select is controlled).
    details_form_open: bool = False
    form_country: str = ""
    field_errors: dict[str, str] = {}
    countries: list[CountryChoice] = []
    _choices_locale: str = ""  # the language `countries` and `tax_types` are named in

    # Tax ids: the add form and the remove confirmation.
    tax_form_open: bool = False
    tax_type: str = TAX_ID_TYPES[0]
    tax_types: list[TaxTypeChoice] = []
    tax_error: str = ""
    tax_remove_open: bool = False
    tax_remove_id: str = ""
    tax_remove_name: str = ""

    # --- the details form --------------------------------------------------------------

    @rx.event
    def open_details_form(self) -> Any:
        if self.pending or not self.can_edit_details:
            return None
        self.form_country, self.field_errors, self.notice = self.details_country, {}, ""
        self._load_choices()
        self.details_form_open = True
        # Keyboard and screen reader users land in the form they opened.
        first = next(f for f, on in (("name", self.edit_name), ("email", self.edit_email),
                                     ("phone", self.edit_phone), ("line1", True)) if on)
        return rx.set_focus(f"details-{first}")

    @rx.event
    def close_details_form(self) -> Any:
        if self.pending:
            return None
        self.details_form_open, self.field_errors = False, {}
        self._focus_when_shown(EDIT_BUTTON_ID)  # back where the customer was (state/client_commands.py)
        return None

    @rx.event
    def set_form_country(self, code: str) -> None:
        if isinstance(code, str) and any(c.code == code for c in self.countries):
            self.form_country = code

    @rx.event
    async def save_details(self, form: dict[str, Any]) -> AsyncIterator[Any]:
        if self.pending or not self.details_form_open or not isinstance(form, dict):
            return
        update = self._details_update(form)
        self.pending, self.notice, self.field_errors = "details", "", {}
        yield
        try:
            details: CustomerDetails = await self._run(
                lambda db, ctx: details_service.update_customer_details(db, ctx, update), work=Work.ACTION
            )
            self._show_details(details)
            self.details_form_open = False
            self._set_notice(t(self.locale, "details.saved_notice"), "green")
        except Exception as exc:  # noqa: BLE001 - a refused field says why beside it
            self._show_field_error(exc)
        finally:
            self.pending = ""
        if not self.details_form_open:  # saved: back where the customer was
            self._focus_when_shown(EDIT_BUTTON_ID)

    # --- tax ids -----------------------------------------------------------------------

    @rx.event
    def open_tax_form(self) -> Any:
        if self.pending or not self.edit_tax_ids:
            return None
        self.tax_type, self.tax_error, self.notice = TAX_ID_TYPES[0], "", ""
        self._load_choices()
        self.tax_form_open = True
        return rx.set_focus("taxid-value")

    @rx.event
    def close_tax_form(self) -> Any:
        if self.pending:
            return None
        self.tax_form_open, self.tax_error = False, ""
        self._focus_when_shown(ADD_TAX_ID_BUTTON_ID)
        return None

    @rx.event
    def set_tax_type(self, value: str) -> None:
        if isinstance(value, str) and value in TAX_ID_TYPES:
            self.tax_type = value

    @rx.event
    async def add_tax_id(self, form: dict[str, Any]) -> AsyncIterator[Any]:
        if self.pending or not self.tax_form_open or not isinstance(form, dict):
            return
        tax_type, value = self.tax_type, str(form.get("value") or "").strip()
        if not value:
            self.tax_error = t(self.locale, "taxid.value_required")
            return
        self.pending, self.notice, self.tax_error = "taxid", "", ""
        yield
        try:
            added = await self._run(lambda db, ctx: details_service.add_tax_id(db, ctx, tax_type, value), work=Work.ACTION)
            row = presenters.tax_id_row(added, self.locale)
            self.tax_ids = [*(r for r in self.tax_ids if r.id != row.id), row]
            self.tax_form_open = False
            self._set_notice(t(self.locale, "taxid.added_notice", tax_id=f"{row.type_label} {row.value}"), "green")
        except Exception as exc:  # noqa: BLE001 - Stripe's refusal of the value shows under it
            if isinstance(exc, BillStackError) and exc.status == 400:
                type_label = t(self.locale, f"taxid.type.{tax_type}")
                self.tax_error = t(self.locale, "taxid.invalid", type=type_label) if exc.code == "tax_id_invalid" else (
                    customer_message(exc) or t(self.locale, "portal.error_generic"))
            else:
                self._show_failure(exc)
        finally:
            self.pending = ""
        if not self.tax_form_open:  # added: back to the button that opened the form
            self._focus_when_shown(ADD_TAX_ID_BUTTON_ID)

    @rx.event
    def open_tax_remove(self, tax_id: str) -> None:
        row = next((r for r in self.tax_ids if r.id == tax_id), None)
        if self.pending or row is None or not self.edit_tax_ids:
            return
        self.tax_remove_id, self.tax_remove_name, self.notice = row.id, f"{row.type_label} {row.value}", ""
        self.tax_remove_open = True

    @rx.event
    def set_tax_remove_open(self, value: bool) -> None:
        if not self.pending and isinstance(value, bool):
            self.tax_remove_open = value

    @rx.event
    async def confirm_tax_remove(self) -> AsyncIterator[Any]:
        tax_id, name = self.tax_remove_id, self.tax_remove_name
        if self.pending or not tax_id:
            return
        self.pending, self.notice = "taxid-remove", ""
        yield
        try:
            await self._run(lambda db, ctx: details_service.remove_tax_id(db, ctx, tax_id), work=Work.ACTION)
            self.tax_ids = [r for r in self.tax_ids if r.id != tax_id]
            self.tax_remove_open = False
            self._set_notice(t(self.locale, "taxid.removed_notice", tax_id=name), "green")
        except Exception as exc:  # noqa: BLE001 - see PortalState._show_failure
            self._show_failure(exc)
        finally:
            self.pending = ""

    # --- derived -----------------------------------------------------------------------

    @rx.var
    def can_edit_details(self) -> bool:
        return self.edit_name or self.edit_email or self.edit_phone or self.edit_address

    # --- helpers -----------------------------------------------------------------------

    def _apply_details(self, details: CustomerDetails | None, features: Features) -> None:
        allowed = set(features.customer_update)
        self.edit_name, self.edit_email = "name" in allowed, "email" in allowed
        self.edit_phone, self.edit_address = "phone" in allowed, "address" in allowed
        self.edit_tax_ids = "tax_id" in allowed
        self.has_details = details is not None
        if details is not None:
            self._show_details(details)

    def _load_choices(self) -> None:
        """The country and tax-id type lists (~10 KB), sent when a form that offers them opens:
        not with the page's load, where most customers never open one, nor on every update."""
        if self._choices_locale != self.locale:
            self._choices_locale = self.locale
            self.countries = [CountryChoice(code=code, name=name) for code, name in countries(self.locale)]
            self.tax_types = [TaxTypeChoice(value=v, label=t(self.locale, f"taxid.type.{v}")) for v in TAX_ID_TYPES]

    def _show_details(self, details: CustomerDetails) -> None:
        self.details_name, self.details_email = details.name or "", details.email or ""
        self.details_phone = details.phone or ""
        self.details_address = presenters.address_lines(details.address, self.locale)
        address = details.address
        self.details_country = (address.country or "") if address is not None else ""
        self.form_address = {
            key: (getattr(address, key) or "") if address is not None else ""
            for key in ("line1", "line2", "city", "state", "postal_code")
        }
        self.tax_ids = [presenters.tax_id_row(tax_id, self.locale) for tax_id in details.tax_ids]

    def _details_update(self, form: dict[str, Any]) -> DetailsUpdate:
        """The form's values for the fields the project lets change (None: left as it is)."""
        value = lambda key: str(form.get(key) or "").strip()  # noqa: E731
        address = AddressUpdate(
            line1=value("line1"), line2=value("line2"), city=value("city"), state=value("state"),
            postal_code=value("postal_code"), country=self.form_country or None,
        ) if self.edit_address else None
        return DetailsUpdate(
            name=value("name") if self.edit_name else None,
            email=value("email") if self.edit_email else None,
            phone=value("phone") if self.edit_phone else None,
            address=address,
        )

    def _show_field_error(self, exc: Exception) -> None:
        field = _PARAM_TO_FIELD.get(exc.param or "") if isinstance(exc, BillStackError) else None
        if field is None:
            self._show_failure(exc)
            return
        # The server names the field; the words are the customer's language's.
        self.field_errors = {field: t(self.locale, f"details.error.{field}")}

    def _reset_details(self) -> None:
        self.details_name = self.details_email = self.details_phone = self.details_country = ""
        self.details_address, self.tax_ids, self.field_errors, self.form_address = [], [], {}, {}
        self.has_details = False
        self.details_form_open = self.tax_form_open = self.tax_remove_open = False

