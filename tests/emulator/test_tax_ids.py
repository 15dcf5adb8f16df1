"""Customer tax ids through the real SDK: Stripe's format checks per type (table-driven, every EU
prefix), normalisation, country, verification status, events, listing, delete and the 25 limit."""

from __future__ import annotations

import pytest
import stripe

from devtools.emulator import advance_time

# (type, value as sent) Stripe accepts; at least three per type the portal offers.
VALID = [
    ("eu_vat", "DE123456789"), ("eu_vat", "FRAB123456789"), ("eu_vat", "NL123456789B01"),
    ("gb_vat", "GB123456789"), ("gb_vat", "GB123456789012"), ("gb_vat", "GBGD123"), ("gb_vat", "GBHA599"),
    ("ch_vat", "CHE-123.456.789 MWST"), ("ch_vat", "CHE-123.456.789 TVA"), ("ch_vat", "CHE123456789IVA"),
    ("no_vat", "123456789MVA"), ("no_vat", "987654321MVA"), ("no_vat", "000000000mva"),
    ("us_ein", "12-3456789"), ("us_ein", "98-7654321"), ("us_ein", "00-0000001"),
    ("ca_bn", "123456789"), ("ca_bn", "987654321"), ("ca_bn", "000000001"),
    ("au_abn", "12345678912"), ("au_abn", "51824753556"), ("au_abn", "00000000001"),
    ("in_gst", "12ABCDE3456FGZH"), ("in_gst", "27AAPFU0939F1ZV"), ("in_gst", "29abcde1234f1z5"),
    ("br_cnpj", "01.234.456/5432-10"), ("br_cnpj", "12.345.678/0001-95"), ("br_cnpj", "00.000.000/0000-00"),
    ("jp_cn", "1234567891234"), ("jp_cn", "9876543210987"), ("jp_cn", "0000000000001"),
]

# (type, value) Stripe refuses with 400 tax_id_invalid; at least three per type.
INVALID = [
    ("eu_vat", "DE12345678"), ("eu_vat", "GR123456789"), ("eu_vat", "US123456789"), ("eu_vat", "123456789"),
    ("eu_vat", "NL123456789A01"), ("eu_vat", "ATU1234567"),
    ("gb_vat", "GB12345678"), ("gb_vat", "123456789"), ("gb_vat", "GBGD12"), ("gb_vat", "XI123456789"),
    ("ch_vat", "CHE-123.456.789"), ("ch_vat", "CHE-123.456.78 MWST"), ("ch_vat", "CH-123.456.789 MWST"),
    ("ch_vat", "CHE-123.456.789 VAT"),
    ("no_vat", "123456789"), ("no_vat", "12345678MVA"), ("no_vat", "NO123456789MVA"),
    ("us_ein", "123456789"), ("us_ein", "12-345678"), ("us_ein", "AB-3456789"),
    ("ca_bn", "12345678"), ("ca_bn", "1234567890"), ("ca_bn", "12345678A"),
    ("au_abn", "1234567891"), ("au_abn", "123456789123"), ("au_abn", "1234567891A"),
    ("in_gst", "12ABCDE3456FGXH"), ("in_gst", "ABCDE3456FGZH12"), ("in_gst", "12ABCDE3456FGZ"),
    ("br_cnpj", "01234456543210"), ("br_cnpj", "01.234.456/5432-1"), ("br_cnpj", "01.234.456-5432/10"),
    ("jp_cn", "123456789123"), ("jp_cn", "12345678912345"), ("jp_cn", "T1234567891234"),
]

# Every EU prefix with a well-formed national number (EL is Greece, XI Northern Ireland).
EU_VAT = {
    "ATU12345678": "AT", "BE0123456789": "BE", "BG123456789": "BG", "BG1234567890": "BG",
    "CY12345678X": "CY", "CZ12345678": "CZ", "CZ1234567890": "CZ", "DE123456789": "DE",
    "DK12345678": "DK", "EE123456789": "EE", "EL123456789": "GR", "ESA1234567Z": "ES",
    "ES12345678Z": "ES", "FI12345678": "FI", "FRAB123456789": "FR", "FR12345678901": "FR",
    "HR12345678901": "HR", "HU12345678": "HU", "IE1234567WA": "IE", "IE1234567T": "IE",
    "IT12345678901": "IT", "LT123456789": "LT", "LT123456789012": "LT", "LU12345678": "LU",
    "LV12345678901": "LV", "MT12345678": "MT", "NL123456789B01": "NL", "PL1234567890": "PL",
    "PT123456789": "PT", "RO1234567890": "RO", "RO12": "RO", "SE123456789701": "SE",
    "SI12345678": "SI", "SK1234567890": "SK", "XI123456789": "GB", "XIGD123": "GB",
}
# Each EU prefix with a national number of the wrong length or charset.
EU_VAT_BAD = [
    "ATU1234567", "AT12345678", "BE2123456789", "BG12345678", "CY123456789", "CZ1234567", "DE1234567890",
    "DK1234567", "EE12345678", "EL12345678", "ES1234567", "FIA2345678", "FRIO123456789", "HR1234567890",
    "HU123456789", "IE12345678", "IT1234567890", "LT1234567890", "LU123456789", "LV1234567890",
    "MT1234567", "NL123456789", "PL123456789", "PT12345678", "RO0123", "SE123456789702", "SI1234567",
    "SK123456789", "XI12345678",
]


@pytest.fixture
def customer(client: stripe.StripeClient) -> stripe.Customer:
    return client.v1.customers.create({"email": "tax@example.com", "name": "Tax Ltd"})


@pytest.mark.parametrize(("tax_type", "value"), VALID)
def test_valid_values_are_accepted(
    client: stripe.StripeClient, customer: stripe.Customer, tax_type: str, value: str
) -> None:
    txi = client.v1.customers.tax_ids.create(customer.id, {"type": tax_type, "value": value})
    assert txi.id.startswith("txi_") and txi.object == "tax_id" and txi.type == tax_type
    assert txi.value == value.upper()
    assert txi.customer == customer.id and txi.owner.type == "customer" and txi.owner.customer == customer.id


@pytest.mark.parametrize(("tax_type", "value"), INVALID + [("eu_vat", v) for v in EU_VAT_BAD])
def test_invalid_values_are_refused(
    client: stripe.StripeClient, customer: stripe.Customer, tax_type: str, value: str
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.tax_ids.create(customer.id, {"type": tax_type, "value": value})
    assert err.value.http_status == 400 and err.value.code == "tax_id_invalid"
    assert err.value.param == "value" and err.value.user_message == f"Invalid value for {tax_type}."
    assert client.v1.customers.tax_ids.list(customer.id).data == []


@pytest.mark.parametrize(("value", "country"), EU_VAT.items())
def test_every_eu_prefix(
    client: stripe.StripeClient, customer: stripe.Customer, value: str, country: str
) -> None:
    txi = client.v1.customers.tax_ids.create(customer.id, {"type": "eu_vat", "value": value})
    assert (txi.value, txi.country) == (value, country)


def test_value_is_normalised_and_country_derived(
    client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    spaced = client.v1.customers.tax_ids.create(customer.id, {"type": "eu_vat", "value": " de 123 456 789 "})
    assert (spaced.value, spaced.country) == ("DE123456789", "DE")
    swiss = client.v1.customers.tax_ids.create(
        customer.id, {"type": "ch_vat", "value": "che-123.456.789  mwst"}
    )
    assert (swiss.value, swiss.country) == ("CHE-123.456.789 MWST", "CH")
    ein = client.v1.customers.tax_ids.create(customer.id, {"type": "us_ein", "value": "12-3456789"})
    assert ein.country == "US"


def test_unknown_type_and_unchecked_types(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.tax_ids.create(customer.id, {"type": "xx_vat", "value": "1"})
    assert err.value.param == "type"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.tax_ids.create(customer.id, {"type": "eu_vat"})
    assert (err.value.code, err.value.param) == ("parameter_missing", "value")
    # A type from Stripe's list without a format check here still needs a value, and is kept.
    kept = client.v1.customers.tax_ids.create(customer.id, {"type": "kr_brn", "value": "123-45-67890"})
    assert (kept.type, kept.country, kept.verification.status) == ("kr_brn", "KR", "unavailable")


@pytest.mark.parametrize(
    ("tax_type", "value", "status"),
    [
        ("eu_vat", "DE123456789", "pending"),
        ("eu_vat", "DE000000000", "verified"),
        ("eu_vat", "DE111111111", "unverified"),
        ("gb_vat", "GB123456789", "pending"),
        ("gb_vat", "GB000000000", "verified"),
        ("au_abn", "12345678912", "pending"),
        ("au_abn", "11111111111", "unverified"),
        ("ch_vat", "CHE-123.456.789 MWST", "unavailable"),
        ("us_ein", "12-3456789", "unavailable"),
        ("jp_cn", "1234567891234", "unavailable"),
    ],
)
def test_verification_status(
    client: stripe.StripeClient, customer: stripe.Customer, tax_type: str, value: str, status: str
) -> None:
    txi = client.v1.customers.tax_ids.create(customer.id, {"type": tax_type, "value": value})
    assert txi.verification.status == status
    assert txi.verification.verified_name == ("Tax Ltd" if status == "verified" else None)


def test_list_retrieve_delete_and_events(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    ids = [
        client.v1.customers.tax_ids.create(customer.id, {"type": "ca_bn", "value": f"12345678{i}"}).id
        for i in range(3)
    ]
    page = client.v1.customers.tax_ids.list(customer.id, {"limit": 2})
    assert [t.id for t in page.data] == ids[::-1][:2] and page.has_more
    assert page.url == f"/v1/customers/{customer.id}/tax_ids"
    assert client.v1.customers.tax_ids.retrieve(customer.id, ids[0]).value == "123456780"

    gone = client.v1.customers.tax_ids.delete(customer.id, ids[0])
    assert (gone.id, gone.object, gone.deleted) == (ids[0], "tax_id", True)
    assert [t.id for t in client.v1.customers.tax_ids.list(customer.id).data] == ids[:0:-1]
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.tax_ids.retrieve(customer.id, ids[0])
    assert err.value.http_status == 404

    events = client.v1.events.list({"limit": 4}).data
    assert [e.type for e in events] == ["customer.tax_id.deleted"] + ["customer.tax_id.created"] * 3
    assert events[0].data.object.id == ids[0] and events[1].data.object.id == ids[2]


def test_another_customers_tax_id_is_not_found(
    client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    other = client.v1.customers.create({"email": "other@example.com"})
    txi = client.v1.customers.tax_ids.create(other.id, {"type": "eu_vat", "value": "DE123456789"})
    for call in (client.v1.customers.tax_ids.retrieve, client.v1.customers.tax_ids.delete):
        with pytest.raises(stripe.InvalidRequestError) as err:
            call(customer.id, txi.id)
        assert err.value.http_status == 404
    assert [t.id for t in client.v1.customers.tax_ids.list(other.id).data] == [txi.id]


def test_at_most_25_per_customer(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    for i in range(25):
        client.v1.customers.tax_ids.create(customer.id, {"type": "jp_cn", "value": f"{i:013d}"})
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.tax_ids.create(customer.id, {"type": "jp_cn", "value": "9999999999999"})
    assert err.value.http_status == 400 and "25" in (err.value.user_message or "")
    assert len(list(client.v1.customers.tax_ids.list(customer.id, {"limit": 100}).auto_paging_iter())) == 25


def test_deleting_the_customer_deletes_its_tax_ids(
    client: stripe.StripeClient, customer: stripe.Customer
) -> None:
    txi = client.v1.customers.tax_ids.create(customer.id, {"type": "eu_vat", "value": "DE123456789"})
    client.v1.customers.delete(customer.id)
    types = [e.type for e in client.v1.events.list({"limit": 2}).data]
    assert types == ["customer.deleted", "customer.tax_id.deleted"]
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.tax_ids.retrieve(customer.id, txi.id)


def test_pending_ids_are_verified_when_the_clock_moves(
    client: stripe.StripeClient, customer: stripe.Customer, emulator_url: str, api_key: str
) -> None:
    pending = client.v1.customers.tax_ids.create(customer.id, {"type": "eu_vat", "value": "FR12345678901"})
    refused = client.v1.customers.tax_ids.create(customer.id, {"type": "eu_vat", "value": "FR11111111111"})
    unchecked = client.v1.customers.tax_ids.create(customer.id, {"type": "us_ein", "value": "12-3456789"})
    assert advance_time(emulator_url, api_key, 60)["tax_ids_verified"] == 1

    got = {t.id: t.verification for t in client.v1.customers.tax_ids.list(customer.id).data}
    assert (got[pending.id].status, got[pending.id].verified_name) == ("verified", "Tax Ltd")
    assert (got[refused.id].status, got[unchecked.id].status) == ("unverified", "unavailable")
    event = client.v1.events.list({"limit": 1}).data[0]
    assert event.type == "customer.tax_id.updated" and event.data.object.id == pending.id
    assert event.data.previous_attributes.verification.status == "pending"
    assert advance_time(emulator_url, api_key, 60)["tax_ids_verified"] == 0


def test_customer_created_with_tax_id_data(client: stripe.StripeClient) -> None:
    cus = client.v1.customers.create(
        {"name": "Data AG", "tax_id_data": [{"type": "ch_vat", "value": "CHE-123.456.789 MWST"},
                                            {"type": "eu_vat", "value": "ATU12345678"}]}
    )
    listed = client.v1.customers.tax_ids.list(cus.id).data
    assert sorted((t.type, t.value, t.country) for t in listed) == [
        ("ch_vat", "CHE-123.456.789 MWST", "CH"), ("eu_vat", "ATU12345678", "AT")
    ]
    types = [e.type for e in client.v1.events.list().data][::-1]
    assert types == ["customer.created", "customer.tax_id.created", "customer.tax_id.created"]

    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.create(
            {"email": "bad@example.com", "tax_id_data": [{"type": "eu_vat", "value": "DE1"}]}
        )
    assert (err.value.code, err.value.param) == ("tax_id_invalid", "tax_id_data[0][value]")
    assert client.v1.customers.list({"email": "bad@example.com"}).data == []
    assert len(client.v1.events.list().data) == 3
