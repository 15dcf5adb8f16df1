"""Which language a portal page speaks: `page_locale()`, a pure function of what is known.

A session made with a locale speaks it. One made with `auto` (or none) follows Stripe's
order: the Stripe customer's `preferred_locales` (mirrored on Customer, comma-separated),
then the browser's `Accept-Language` (by its q-values), then English. Each candidate counts
only when it maps to one of the portal's locales (i18n.match_locale: `fr-FR` → `fr`).
"""

from __future__ import annotations

from collections.abc import Iterator

from billstack.client_info import ACCEPT_LANGUAGE_MAX
from billstack.i18n import AUTO_LOCALE, DEFAULT_LOCALE, match_locale

# A browser sends a handful of languages; the header comes from whoever opens the link, so
# only its first entries are read.
_ACCEPT_LANGUAGE_ENTRIES_MAX = 32


def page_locale(session_locale: str | None, preferred_locales: str | None, accept_language: str | None) -> str:
    """The supported locale tag the page is shown in."""
    explicit = match_locale(session_locale) if session_locale != AUTO_LOCALE else None
    if explicit is not None:
        return explicit
    for tag in (preferred_locales or "").split(","):
        found = match_locale(tag.strip())
        if found is not None:
            return found
    for tag in accepted_languages(accept_language):
        found = match_locale(tag)
        if found is not None:
            return found
    return DEFAULT_LOCALE


def accepted_languages(header: str | None) -> list[str]:
    """`fi-FI,fi;q=0.9,en;q=0.8` → ["fi-FI", "fi", "en"]: by q-value, highest first (ties keep
    the header's order); `*`, q=0 and malformed entries dropped."""
    weighted = sorted(_entries(header or ""), key=lambda entry: -entry[1])
    return [tag for tag, _ in weighted]


def _entries(header: str) -> Iterator[tuple[str, float]]:
    for entry in header[:ACCEPT_LANGUAGE_MAX].split(",")[:_ACCEPT_LANGUAGE_ENTRIES_MAX]:
        tag, _, params = entry.strip().partition(";")
        tag, weight = tag.strip(), _quality(params)
        if tag and tag != "*" and weight > 0:
            yield tag, weight


def _quality(params: str) -> float:
    """The entry's q (1 when absent; 0, i.e. dropped, when malformed)."""
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value.strip())
            except ValueError:
                return 0.0
            return weight if 0 <= weight <= 1 else 0.0
    return 1.0
