"""Stripe's wire format: form bodies with bracket nesting in, typed parameters out.

`items[0][price]=p&expand[]=x&metadata[k]=v` becomes
`{"items": [{"price": "p"}], "expand": ["x"], "metadata": {"k": "v"}}`. Values stay
strings; the `take_*` helpers coerce them and raise Stripe's parameter errors.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from stripe_emulator.errors import StripeError, invalid, missing, unknown_param

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def parse_form(text: str) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(text, keep_blank_values=True):
        m = _KEY.match(raw_key)
        if not m:
            raise invalid(raw_key, f"Invalid parameter name: {raw_key}", code="parameter_unknown")
        parts = [m.group(1), *_PART.findall(m.group(2))]
        _assign(root, parts, value, raw_key)
    return _listify(root)


def _assign(node: dict[str, Any], parts: list[str], value: str, raw_key: str) -> None:
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise invalid(raw_key, f"Invalid array or hash for {parts[0]}")
        if nxt == "":  # `a[]=v`: append
            if i + 1 != len(parts) - 1:
                raise invalid(raw_key, f"Invalid array for {parts[0]}")
            child[str(len(child))] = value
            return
        node = child
    last = parts[-1]
    if isinstance(node.get(last), dict):
        if value == "":  # `metadata=` clears a hash
            node[last] = ""
            return
        raise invalid(raw_key, f"Invalid hash for {last}")
    node[last] = value


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    out = {k: _listify(v) for k, v in node.items()}
    if out and all(k.isdigit() for k in out):
        return [out[k] for k in sorted(out, key=int)]
    return out


# --- typed access --------------------------------------------------------------------


def check_known(params: dict[str, Any], allowed: set[str] | frozenset[str]) -> None:
    for name in params:
        if name not in allowed and name != "expand":
            raise unknown_param(name)


def take_str(
    params: dict[str, Any],
    name: str,
    *,
    param: str | None = None,
    required: bool = False,
    choices: tuple[str, ...] | None = None,
) -> str | None:
    """`param` is the public name for errors when `params` is a nested hash (e.g. `recurring[interval]`)."""
    label = param or name
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise missing(label)
        return None
    if not isinstance(value, str):
        raise invalid(label, f"Invalid string: {_show(value)}")
    if choices and value not in choices:
        raise invalid(label, f"Invalid {label}: must be one of {', '.join(choices)}")
    return value


def take_int(
    params: dict[str, Any],
    name: str,
    *,
    param: str | None = None,
    required: bool = False,
    minimum: int | None = None,
) -> int | None:
    label = param or name
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise missing(label)
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(label, f"Invalid integer: {_show(value)}", code="parameter_invalid_integer") from None
    if minimum is not None and number < minimum:
        raise invalid(
            label, f"This value must be greater than or equal to {minimum}.", code="parameter_invalid_integer"
        )
    return number


def take_bool(params: dict[str, Any], name: str, *, param: str | None = None) -> bool | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if value in ("true", "True", "1"):
        return True
    if value in ("false", "False", "0"):
        return False
    raise invalid(param or name, f"Invalid boolean: {_show(value)}")


def take_list(params: dict[str, Any], name: str, *, param: str | None = None) -> list[Any] | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        raise invalid(param or name, f"Invalid array: {param or name}")
    return value


def take_dict(params: dict[str, Any], name: str, *, param: str | None = None) -> dict[str, Any] | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, dict):
        raise invalid(param or name, f"Invalid object: {param or name} must be a hash")
    return value


def merge_metadata(current: dict[str, str] | None, params: dict[str, Any]) -> dict[str, str]:
    """Stripe's rules: `metadata[k]=v` sets, `metadata[k]=` unsets, `metadata=` clears."""
    out = dict(current or {})
    if "metadata" not in params:
        return out
    value = params["metadata"]
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid("metadata", "Invalid metadata: must be a hash")
    for key, v in value.items():
        if not isinstance(v, str):
            raise invalid(f"metadata[{key}]", "Metadata values must be strings")
        if len(key) > 40:
            raise invalid("metadata", f"Metadata keys must be at most 40 characters (got '{key}').")
        if len(v) > 500:
            raise invalid(f"metadata[{key}]", "Metadata values must be at most 500 characters.")
        if v == "":
            out.pop(key, None)
        else:
            out[key] = v
    if len(out) > 50:
        raise invalid("metadata", "Metadata may have at most 50 keys.")
    return out


def expand_paths(params: dict[str, Any]) -> list[str]:
    value = params.get("expand")
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise StripeError("Invalid array: expand", code="parameter_invalid_string", param="expand")


def _show(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)
