"""A Checkout Session's `locale` and `branding_settings`, checked as Stripe checks them and
echoed on the session (the hosted page shows them: hosted.py)."""

from __future__ import annotations

import re
from typing import Any

from stripe_emulator.errors import invalid
from stripe_emulator.wire import check_known, take_dict, take_str

# Stripe's Checkout locales (stripe-python 16's `checkout.Session.create` params).
LOCALES = (
    "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi", "fil", "fr", "fr-CA", "hi-IN",
    "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt", "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk",
    "sl", "sv", "th", "tr", "vi", "zh", "zh-HK", "zh-TW",
)
BORDER_STYLES = ("pill", "rectangular", "rounded")
_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
_BRANDING_PARAMS = frozenset(
    {"background_color", "border_style", "button_color", "display_name", "font_family", "icon", "logo"}
)
# What a session shows for a field the request left out (Stripe: the account's settings).
_DEFAULTS = {"background_color": "#ffffff", "border_style": "rounded", "button_color": "#0074d4",
             "font_family": "default"}


def take_locale(params: dict[str, Any]) -> str | None:
    return take_str(params, "locale", choices=LOCALES)


def take_branding(params: dict[str, Any], account_name: str) -> dict[str, Any] | None:
    """`branding_settings` as the session echoes it (None when not asked for)."""
    given = take_dict(params, "branding_settings")
    if given is None:
        return None
    check_known(given, _BRANDING_PARAMS)
    out: dict[str, Any] = {}
    for name in ("background_color", "button_color"):
        color = take_str(given, name, param=f"branding_settings[{name}]")
        if color is not None and not _HEX.fullmatch(color):
            raise invalid(f"branding_settings[{name}]", f"Invalid hex color: {color}")
        out[name] = color or _DEFAULTS[name]
    out["border_style"] = take_str(
        given, "border_style", param="branding_settings[border_style]", choices=BORDER_STYLES
    ) or _DEFAULTS["border_style"]
    display_name = take_str(given, "display_name", param="branding_settings[display_name]")
    out["display_name"] = display_name or account_name
    out["font_family"] = take_str(given, "font_family", param="branding_settings[font_family]") or "default"
    out["icon"] = _image(given, "icon")
    out["logo"] = _image(given, "logo")
    if out["icon"] is not None and out["logo"] is not None:
        raise invalid("branding_settings", "You cannot set both `logo` and `icon`.")
    return out


def _image(given: dict[str, Any], name: str) -> dict[str, Any] | None:
    image = take_dict(given, name, param=f"branding_settings[{name}]")
    if image is None:
        return None
    check_known(image, frozenset({"type", "url", "file"}))
    kind = take_str(image, "type", param=f"branding_settings[{name}][type]", required=True, choices=("file", "url"))
    if kind == "url":
        url = take_str(image, "url", param=f"branding_settings[{name}][url]", required=True)
        if not url or not url.startswith("https://"):
            raise invalid(f"branding_settings[{name}][url]", f"The {name} URL must be an https URL.")
        return {"file": None, "type": "url", "url": url}
    file = take_str(image, "file", param=f"branding_settings[{name}][file]", required=True)
    return {"file": file, "type": "file", "url": None}
