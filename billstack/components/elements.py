"""Two small elements Reflex 0.10 does not ship: an image that reports a failed load, and
the document's language kept in step with the page's.

Reflex writes `<html lang>` once, at build time (`rx.App(html_lang=…)`), and the document
root may hold no state, so the page sets it from the browser when its locale changes.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex_base.event import EventHandler, no_args_event_spec
from reflex_base.utils.imports import ImportDict, ImportVar


class ImageWithFallback(rx.el.Img):
    """`<img>` with `on_error` (the browser's onError): the caller shows something else."""

    on_error: EventHandler[no_args_event_spec]


class DocumentLang(rx.Fragment):
    """Renders nothing; sets `document.documentElement.lang` to `lang` whenever it changes."""

    lang: rx.Var[str]

    def _exclude_props(self) -> list[str]:
        return [*super()._exclude_props(), "lang"]

    def add_imports(self) -> ImportDict:
        return {"react": [ImportVar(tag="useEffect")]}

    def add_hooks(self) -> list[str | rx.Var[Any]]:
        lang = self.lang
        return [
            rx.Var(
                f"useEffect(() => {{ if ({lang!s}) {{ document.documentElement.lang = {lang!s}; }} }}, [{lang!s}]);",
                _var_data=lang._get_all_var_data(),
            )
        ]


image_with_fallback = ImageWithFallback.create
document_lang = DocumentLang.create
