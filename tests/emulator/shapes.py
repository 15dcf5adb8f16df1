"""Shape checks: emulator JSON against stripe-python's typed classes and Stripe's own fixtures."""

from __future__ import annotations

import importlib
import types
import typing
from typing import Any, ForwardRef

import stripe
from stripe._object_classes import OBJECT_CLASSES
from stripe._stripe_object import StripeObject, UntypedStripeObject

_NONE = type(None)


def object_class(obj_type: str) -> type[StripeObject] | None:
    spec = OBJECT_CLASSES.get(obj_type)
    if spec is None:
        return None
    return getattr(importlib.import_module(spec[0]), spec[1])


def declared(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        out.update(getattr(klass, "__annotations__", {}))
    out.pop("OBJECT_NAME", None)
    return out


def _flatten(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return [x for arg in typing.get_args(tp) for x in _flatten(arg)]
    return [tp]


def nullable(tp: Any) -> bool:
    return any(t is _NONE for t in _flatten(tp))


def _resolve(tp: Any) -> Any:
    if isinstance(tp, ForwardRef):
        tp = tp.__forward_arg__
    if isinstance(tp, str):
        name = tp.strip("'\"")
        return getattr(stripe, name, None) or getattr(stripe.checkout, name, None)
    return tp


def nested_class(tp: Any, value: dict[str, Any]) -> type | None | bool:
    """The class describing `value` under annotation `tp`; False when it is a free-form map."""
    if (
        isinstance(value, dict)
        and isinstance(value.get("object"), str)
        and value["object"] not in ("list", "search_result")
    ):
        cls = object_class(value["object"])
        if cls is not None:
            return cls
    for t in _flatten(tp):
        t = _resolve(t)
        origin = typing.get_origin(t) or t
        if isinstance(origin, type) and issubclass(origin, UntypedStripeObject):
            return False
        if origin in (dict, dict):
            return False
        if isinstance(origin, type) and issubclass(origin, StripeObject):
            return origin
    return None


def list_element_type(tp: Any) -> Any:
    for t in _flatten(tp):
        t = _resolve(t)
        if typing.get_origin(t) in (list, list):
            return typing.get_args(t)[0]
    return None


def check_annotations(value: dict[str, Any], cls: type, path: str, problems: list[str]) -> None:
    """Every key the emulator sends must be declared on stripe-python's class (recursively)."""
    fields = declared(cls)
    for key, child in value.items():
        where = f"{path}.{key}"
        if key not in fields:
            problems.append(f"{where}: not declared on {cls.__qualname__}")
            continue
        tp = fields[key]
        if child is None:
            if not nullable(tp):
                problems.append(f"{where}: null, but {cls.__qualname__}.{key} is not Optional")
            continue
        if isinstance(child, dict):
            if isinstance(child.get("object"), str) and child["object"] in ("list", "search_result"):
                check_list(child, where, problems)
                continue
            sub = nested_class(tp, child)
            if sub:
                check_annotations(child, sub, where, problems)
        elif isinstance(child, list):
            elem = list_element_type(tp)
            for i, item in enumerate(child):
                if isinstance(item, dict):
                    sub = nested_class(elem, item) if elem is not None else None
                    if sub:
                        check_annotations(item, sub, f"{where}[{i}]", problems)


def check_list(value: dict[str, Any], path: str, problems: list[str]) -> None:
    expected = {"object", "data", "has_more", "url"} | (
        {"next_page", "total_count"} if value["object"] == "search_result" else set()
    )
    if not set(value) <= expected or not {"object", "data", "has_more", "url"} <= set(value):
        problems.append(f"{path}: list keys {sorted(value)}")
    for i, item in enumerate(value["data"]):
        cls = object_class(item.get("object", ""))
        if cls is None:
            problems.append(f"{path}.data[{i}]: unknown object type {item.get('object')!r}")
        else:
            check_annotations(item, cls, f"{path}.data[{i}]", problems)


# --- against Stripe's fixtures ---------------------------------------------------------

# Keys whose values are free-form maps (no fixed key set).
FREE_FORM = frozenset({"metadata", "payment_method_options", "previous_attributes"})


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def compare_to_fixture(
    ours: Any, theirs: Any, cls: type | None, path: str, problems: list[str], exceptions: dict[str, str]
) -> None:
    """Same key set and nesting as Stripe's example; null where Stripe shows a value is fine if nullable."""
    if path in exceptions:
        return
    if ours is None or theirs is None:
        return
    if isinstance(ours, dict) and isinstance(ours.get("object"), str) and isinstance(theirs, str):
        return  # an expanded id: the object is checked as its own type
    if json_kind(ours) != json_kind(theirs):
        problems.append(f"{path}: emulator sends {json_kind(ours)}, Stripe's example has {json_kind(theirs)}")
        return
    if isinstance(ours, dict):
        if path.rsplit(".", 1)[-1] in FREE_FORM:
            return
        if ours.get("object") == "list":
            for i, item in enumerate(ours["data"][:1]):
                if theirs.get("data"):
                    compare_to_fixture(
                        item,
                        theirs["data"][0],
                        object_class(item.get("object", "")),
                        f"{path}.data[]",
                        problems,
                        exceptions,
                    )
            return
        ours_keys, their_keys = set(ours), set(theirs)
        for key in sorted(ours_keys - their_keys):
            if f"{path}.{key}" not in exceptions:
                problems.append(f"{path}.{key}: the emulator sends it, Stripe's example has no such key")
        for key in sorted(their_keys - ours_keys):
            if f"{path}.{key}" not in exceptions:
                problems.append(f"{path}.{key}: in Stripe's example, missing from the emulator")
        fields = declared(cls) if cls else {}
        for key in sorted(ours_keys & their_keys):
            sub = (
                nested_class(fields.get(key), ours[key])
                if key in fields and isinstance(ours[key], dict)
                else None
            )
            if isinstance(ours[key], list):
                elem = list_element_type(fields.get(key)) if key in fields else None
                if ours[key] and theirs[key] and isinstance(ours[key][0], dict):
                    compare_to_fixture(
                        ours[key][0],
                        theirs[key][0],
                        nested_class(elem, ours[key][0]) or None,
                        f"{path}.{key}[]",
                        problems,
                        exceptions,
                    )
                continue
            compare_to_fixture(ours[key], theirs[key], sub or None, f"{path}.{key}", problems, exceptions)
