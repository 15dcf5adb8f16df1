"""Small elements Reflex 0.10 does not ship: an image that reports a failed load, the
document's language kept in step with the page's, and a flag for rendering in two steps.

Reflex writes `<html lang>` once, at build time (`rx.App(html_lang=…)`), and the document
root may hold no state, so the page sets it from the browser when its locale changes.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex_base.event import EventHandler, no_args_event_spec
from reflex_base.utils.imports import ImportDict, ImportVar
from reflex_base.vars.base import VarData


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


def after_first_paint() -> rx.Var[bool]:
    """False in the render that mounts the component using it, true from the frame after that
    render was painted. `rx.cond(after_first_paint(), rest)` shows what is above first, then
    renders `rest` (at most once per component: the hook's names are fixed)."""
    return rx.Var(
        "afterFirstPaint",
        _var_type=bool,
        _var_data=VarData(
            imports={"react": [ImportVar(tag="useState"), ImportVar(tag="useEffect")]},
            hooks=[
                "const [afterFirstPaint, setAfterFirstPaint] = useState(false);",
                # requestAnimationFrame runs before that frame's paint; the timeout after it.
                "useEffect(() => { let timer; const frame = requestAnimationFrame(() => "
                "{ timer = setTimeout(() => setAfterFirstPaint(true), 0); }); "
                "return () => { cancelAnimationFrame(frame); clearTimeout(timer); }; }, []);",
            ],
        ),
    )


image_with_fallback = ImageWithFallback.create
document_lang = DocumentLang.create
