"""Tax id types, Stripe's format checks, the country of each id and its verification status.

Stripe accepts every type in its list; the emulator checks the format of the types below
(the ones the portal offers and their neighbours) and takes any non-empty value for the rest.
"""

from __future__ import annotations

import re

from stripe_emulator.errors import StripeError

# Stripe's whole `type` list (stripe-python 16, `TaxId.type`), `unknown` excluded: it is legacy.
TAX_ID_TYPES = frozenset(
    """
    ad_nrt ae_trn al_tin am_tin ao_tin ar_cuit au_abn au_acn au_arn au_wpn aw_tin az_tin ba_tin
    bb_tin bd_bin bf_ifu bg_uic bh_vat bj_ifu bo_tin br_cnpj br_cpf bs_tin bw_vat by_tin ca_bn
    ca_gst_hst ca_pst_bc ca_pst_mb ca_pst_sk ca_qst cd_nif ch_uid ch_vat ci_vat cl_tin cm_niu cn_tin
    co_nit cr_tin cv_nif cz_dic de_stn do_rcn ec_ruc eg_tin es_cif et_tin eu_oss_vat eu_vat fo_vat
    fr_siren fr_siret fr_spi gb_vat ge_vat gh_tin gi_tin gn_nif hk_br hr_oib hu_tin ic_nif id_npwp
    il_vat in_gst is_kt is_vat it_cf jp_cn jp_rn jp_trn ke_pin kg_tin kh_tin kr_brn kz_bin la_tin
    li_uid li_vat lk_vat ma_vat md_cf md_vat me_pib mk_vat mr_nif mu_vat mx_rfc my_frp my_itn my_sst
    mz_nuit ng_tin no_vat no_voec np_pan nz_bn nz_gst om_vat pe_ruc ph_tin pl_nip pt_nif py_ruc
    ro_tin rs_pib ru_inn ru_kpp sa_vat sg_gst sg_uen si_tin sm_coe sn_ninea sr_fin sv_nit th_vat
    tj_tin tr_tin tt_bir tt_vat tw_vat tz_vat ua_vat ug_tin us_ein uy_ruc uz_tin uz_vat ve_rif vn_tin
    za_vat zm_tin zw_tin
    """.split()
)

_UK = r"(\d{9}|\d{12}|GD\d{3}|HA\d{3})"

# National part of an EU VAT number, after its two-letter prefix (EL is Greece, XI Northern Ireland).
EU_VAT_FORMATS: dict[str, str] = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "FR": r"[A-HJ-NP-Z0-9]{2}\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d{7}[A-W][A-IW]?|\d[A-Z+*]\d{5}[A-W]",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"[1-9]\d{1,9}",
    "SE": r"\d{10}01",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
    "XI": _UK,
}
_VAT_COUNTRY = {"EL": "GR", "XI": "GB"}

FORMATS: dict[str, str] = {
    "eu_vat": "(" + "|".join(f"{p}(?:{f})" for p, f in EU_VAT_FORMATS.items()) + ")",
    "gb_vat": "GB" + _UK,
    "ch_vat": r"CHE-?\d{3}\.?\d{3}\.?\d{3} ?(MWST|TVA|IVA)",
    "ch_uid": r"CHE-?\d{3}\.?\d{3}\.?\d{3}",
    "li_uid": r"CHE\d{9}",
    "no_vat": r"\d{9}MVA",
    "us_ein": r"\d{2}-\d{7}",
    "ca_bn": r"\d{9}",
    "ca_gst_hst": r"\d{9}RT\d{4}",
    "ca_qst": r"\d{10}TQ\d{4}",
    "au_abn": r"\d{11}",
    "au_arn": r"\d{12}",
    "in_gst": r"\d{2}[A-Z]{5}\d{4}[A-Z][1-9A-Z]Z[0-9A-Z]",
    "br_cnpj": r"\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}",
    "br_cpf": r"\d{3}\.\d{3}\.\d{3}-\d{2}",
    "jp_cn": r"\d{13}",
    "jp_trn": r"T\d{13}",
    "nz_gst": r"\d{8,9}",
    "sg_uen": r"\d{9}[A-Z]|\d{10}[A-Z]|[TSR]\d{2}[A-Z]{2}\d{4}[A-Z]",
    "za_vat": r"4\d{9}",
    "mx_rfc": r"[A-Z&Ñ]{3,4}\d{6}[A-Z0-9]{3}",
    "eu_oss_vat": r"EU\d{9}",
}

# Types whose numbers Stripe checks against a government registry (the others: `unavailable`).
VERIFIED_TYPES = frozenset({"eu_vat", "gb_vat", "au_abn"})


def _no_spaces(tax_type: str) -> bool:
    return tax_type != "ch_vat"


def normalise(tax_type: str, value: str) -> str:
    """Upper-case, spaces dropped (Swiss VAT keeps one before its MWST/TVA/IVA suffix)."""
    text = value.strip().upper()
    return re.sub(r"\s+", "" if _no_spaces(tax_type) else " ", text)


def check_value(tax_type: str, value: str) -> str:
    """The stored form of `value`, or Stripe's 400 `tax_id_invalid`."""
    text = normalise(tax_type, value)
    pattern = FORMATS.get(tax_type)
    if not text or (pattern is not None and not re.fullmatch(pattern, text)):
        raise StripeError(f"Invalid value for {tax_type}.", code="tax_id_invalid", param="value")
    return text


def country_of(tax_type: str, value: str) -> str | None:
    if tax_type == "eu_vat":
        prefix = value[:2]
        return _VAT_COUNTRY.get(prefix, prefix)
    if tax_type in ("eu_oss_vat", "unknown"):
        return None
    return tax_type.split("_", 1)[0].upper()


def initial_status(tax_type: str, value: str) -> str:
    """Test-mode magic values, as Stripe's: a number of all 0s is verified, all 1s unverified;
    any other verifiable number is pending (verified at the next clock advance)."""
    if tax_type not in VERIFIED_TYPES:
        return "unavailable"
    digits = re.sub(r"\D", "", value)
    if digits and set(digits) == {"0"}:
        return "verified"
    if digits and set(digits) == {"1"}:
        return "unverified"
    return "pending"
