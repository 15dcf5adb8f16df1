"""The gettext catalogues (billstack/locales/*/LC_MESSAGES/messages.po) are complete and
consistent: the same message ids as English, the same {placeholders}, every plural form
the language's plural rules need, nothing left in English by accident. Each catalogue
found is checked, so a new language is held to the rules the moment its file exists."""

from __future__ import annotations

import re

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from billstack import i18n

# An entry may equal English only when the translator says so: the flag `#, same-as-english`
# (brand-like words, "OK", a language where the English word is the word).
SAME_AS_ENGLISH = "same-as-english"
FILES = sorted(i18n.LOCALES_DIR.glob("*/LC_MESSAGES/messages.po"))
LOCALES = [path.parent.parent.name.replace("_", "-") for path in FILES]


def read(locale: str) -> Catalog:
    with i18n.catalogue_path(locale).open("rb") as source:
        return read_po(source)


def entries(catalog: Catalog) -> dict[str, Message]:
    return {(m.id[0] if m.pluralizable else m.id): m for m in catalog if m.id}


def forms(message: Message) -> list[str]:
    return list(message.string) if message.pluralizable else [message.string]


def placeholders(text: str) -> list[str]:
    return sorted(set(re.findall(r"{(\w+)}", text)))


ENGLISH = entries(read(i18n.DEFAULT_LOCALE))


def test_every_supported_locale_has_a_catalogue() -> None:
    assert set(i18n.SUPPORTED_LOCALES) <= set(LOCALES)


@pytest.mark.parametrize("locale", LOCALES)
def test_the_catalogue_has_the_english_ids_with_the_same_shape(locale: str) -> None:
    own = entries(read(locale))
    regional = locale in i18n.REGIONAL_PARENTS
    extra = sorted(set(own) - set(ENGLISH))
    assert extra == [], f"{locale}: ids English does not have"
    if not regional:
        assert sorted(set(ENGLISH) - set(own)) == [], f"{locale}: ids missing"
    for key, message in own.items():
        assert message.pluralizable == ENGLISH[key].pluralizable, f"{locale} {key}: plural in one, not the other"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_translation_keeps_the_english_placeholders(locale: str) -> None:
    for key, message in entries(read(locale)).items():
        expected = placeholders(" ".join(forms(ENGLISH[key])))
        for text in forms(message):
            assert text, f"{locale} {key}: empty translation"
            assert placeholders(text) == expected, f"{locale} {key}: {text!r}"
            text.format(**{name: "x" for name in expected})  # no stray braces


@pytest.mark.parametrize("locale", LOCALES)
def test_plural_messages_have_the_forms_of_the_language(locale: str) -> None:
    catalog = read(locale)
    babel_id = locale.replace("-", "_")
    rule = get_plural(babel_id)
    assert catalog.num_plurals == rule.num_plurals, f"{locale}: Plural-Forms header is not CLDR's ({rule.plural_forms})"
    for key, message in entries(catalog).items():
        if message.pluralizable:
            assert len(message.string) == rule.num_plurals, f"{locale} {key}"


@pytest.mark.parametrize("locale", [locale for locale in LOCALES if locale != i18n.DEFAULT_LOCALE])
def test_nothing_is_left_in_the_parent_language_by_accident(locale: str) -> None:
    """A full language translates every entry; a regional variant lists only what differs."""
    parent = i18n.parent_locale(locale) or i18n.DEFAULT_LOCALE
    inherited = entries(read(parent))
    for key, message in entries(read(locale)).items():
        if SAME_AS_ENGLISH in message.flags and parent == i18n.DEFAULT_LOCALE:
            continue
        assert forms(message) != forms(inherited[key]), (
            f"{locale} {key}: same as {parent}; translate it, drop it (regional) or flag it #, {SAME_AS_ENGLISH}"
        )

