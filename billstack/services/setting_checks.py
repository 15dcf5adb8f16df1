"""Checks of what an operator (or a customer) types into a setting: URLs, origins, email
addresses, CSP sources, colours. Pure functions, no database: each returns the value to
store or raises a 400 naming the field (`param`) and what is wrong.

What a tenant sets here ends up in every customer's page (a link, the logo, the accent
colour) or in a header (frame-ancestors), so the rules are strict: only http(s) links on
plain hosts, https logos on public hosts, `#rrggbb` colours, CSP sources without `;`.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from functools import lru_cache
from urllib.parse import SplitResult, urlsplit

from billstack.config import origin_of
from billstack.errors import BillStackError, api_param, invalid
from billstack.models import DEFAULT_ACCENT_COLOR

# --- URLs, origins and email addresses ---------------------------------------------------

_HTTP_SCHEMES = ("http", "https")
_URL_MAX_LENGTH = 2000
# Besides spaces and control characters: `<>"` would break out of HTML, and browsers
# read `\` as `/` (so `https://a.example\@b.example` is not what it seems).
_URL_FORBIDDEN = frozenset('<>"\\')
_DNS_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# The last label starts with a letter: browsers read a numeric one (`127.1`, `0x7f.1`) as an IPv4 address.
_TOP_LABEL = r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"(?:{_DNS_LABEL}\.)*{_TOP_LABEL}")
_DNS_NAME_MAX = 253
# Names that never reach the public internet: localhost (RFC 6761), mDNS (RFC 6762),
# ICANN's private-use TLD, home networks (RFC 8375).
_PRIVATE_NAME_SUFFIXES = ("localhost", "local", "internal", "home.arpa")
# RFC 5322 atext without the quote: a plain address, no display name or quoted part.
_EMAIL_ATOM = r"[A-Za-z0-9!#$%&*+/=?^_`{|}~-]+"
_EMAIL = re.compile(rf"{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*@(?:{_DNS_LABEL}\.)+{_TOP_LABEL}")
_EMAIL_MAX = 320


def check_email(value: str, param: str, example: str = "name@example.com") -> str:
    """A plain address (`local@domain.tld`): no display name, quotes, spaces or angle brackets."""
    if len(value) > _EMAIL_MAX or not _EMAIL.fullmatch(value):
        param = api_param(param)
        raise invalid(f"{param} must be an email address such as {example}, got {value!r}.", param=param)
    return value


def normalised_origin(origin: str) -> str:
    """A stored origin in `origin_of`'s form (config.py: the one origin normaliser). Lenient:
    origins saved before `check_origin` had its present rules are read as they were
    written, never refused (an unreadable port is left out)."""
    try:
        return origin_of(origin)
    except ValueError:
        parts = urlsplit(origin)
        host = parts.hostname or ""
        return origin_of(f"{parts.scheme}://[{host}]" if ":" in host else f"{parts.scheme}://{host}")


def check_origin(origin: str) -> str:
    """An allowed return origin, in `origin_of`'s form: http(s), a host name or IP address
    (no wildcards), an optional port; no user name, password, path, query or fragment."""
    param, expected = "allowed_return_origins", "an origin such as https://app.example.com"
    parts, _port = _split_url(origin, param, expected, _HTTP_SCHEMES)
    if parts.path not in ("", "/") or "?" in origin or "#" in origin:
        raise _not_a(param, expected, origin, "no path, query or fragment")
    return origin_of(origin)


def check_http_url(url: str, param: str) -> str:
    """A link: http(s) on a host name or IP address, without a user name or password."""
    _split_url(url, param, "an http(s) URL such as https://example.com/help", _HTTP_SCHEMES)
    return url


def check_logo_url(url: str) -> str:
    """The logo every customer's browser loads: https, and only from a public host, so a
    portal cannot be made to request the customer's local network (or the server's)."""
    param, expected = "logo_url", "a public https URL such as https://cdn.example.com/logo.png"
    parts, _port = _split_url(url, param, expected, ("https",))
    if not _is_public_host(parts.hostname or ""):
        raise _not_a(param, expected, url, "not a local, private or reserved host")
    return url


def _split_url(url: str, param: str, expected: str, schemes: tuple[str, ...]) -> tuple[SplitResult, int | None]:
    """`url` taken apart (and its port), or a 400 naming `param` and what is wrong."""
    problem = _url_problem(url, schemes)
    if problem is not None:
        raise _not_a(param, expected, url, problem)
    parts = urlsplit(url)
    return parts, parts.port


def _url_problem(url: str, schemes: tuple[str, ...]) -> str | None:
    """What keeps `url` from being an absolute URL on a plain host, or None."""
    if len(url) > _URL_MAX_LENGTH:
        return f"at most {_URL_MAX_LENGTH} characters"
    if any(c.isspace() or unicodedata.category(c) == "Cc" or c in _URL_FORBIDDEN for c in url):
        return 'no spaces, control characters or <>"\\'
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is no number or above 65535, or a malformed IPv6 address
        return "a port from 1 to 65535, an IPv6 address in brackets"
    if parts.scheme not in schemes:
        return " or ".join(f"{scheme}://" for scheme in schemes) + " only"
    if "@" in parts.netloc:
        return "no user name or password"
    if port == 0:
        return "a port from 1 to 65535"
    if not _is_host(parts.hostname or ""):
        return "a host name or IP address, no wildcards"
    return None


def _not_a(param: str, expected: str, value: str, reason: str) -> BillStackError:
    param = api_param(param)
    return invalid(f"{param} must be {expected} ({reason}), got {value!r}.", param=param)


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`host` as an IP address, or None. One with a zone (`fe80::1%eth0`) names a local
    interface: it is refused as a host."""
    if "%" in host:
        return None
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def private_host_of(url: str) -> str | None:
    """The host of `url` when the public internet cannot reach it (localhost, a .local or
    other private-use name, a single-label name, a private, loopback or reserved address),
    else None: what Stripe's servers could not deliver a webhook to."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return None
    return None if _is_public_host(host) else host


def _is_host(host: str) -> bool:
    return _ip_address(host) is not None or (len(host) <= _DNS_NAME_MAX and _DNS_NAME.fullmatch(host) is not None)


def _is_public_host(host: str) -> bool:
    """A dotted DNS name outside the private-use names, or a public IP address."""
    address = _ip_address(host)
    if address is None:
        private = any(host == suffix or host.endswith("." + suffix) for suffix in _PRIVATE_NAME_SUFFIXES)
        return "." in host and not private
    if address.version == 6:  # IPv4 inside IPv6 (::ffff:a.b.c.d, 6to4) is judged as that IPv4 address
        address = address.ipv4_mapped or address.sixtofour or address
    return address.is_global and not (
        address.is_loopback or address.is_private or address.is_link_local or address.is_unspecified
        or address.is_multicast or address.is_reserved
    )


# A CSP source: 'self', 'none', a scheme (https:), or a host with optional scheme, *. and port.
_CSP_SOURCE = re.compile(r"(https?://)?(\*\.)?[A-Za-z0-9.-]+(:(\d{1,5}|\*))?|https?:|'self'")


def check_frame_ancestors(value: str) -> str:
    """The value goes verbatim into a Content-Security-Policy header: no `;`, no newlines."""
    sources = value.split()
    if sources == ["'none'"]:
        return "'none'"
    if not sources or not all(_CSP_SOURCE.fullmatch(s) for s in sources):
        raise invalid(
            "frameAncestors must be 'none', or sources like 'self' https://app.example.com "
            f"(space-separated), got {value!r}.",
            param="frameAncestors",
        )
    return " ".join(sources)


_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


def check_colour(value: str) -> None:
    if not _COLOUR.fullmatch(value):
        raise invalid("accentColor must look like #4f46e5.", param="accentColor")


# --- the same rules on the way out -------------------------------------------------------
# What reaches a customer's page (or the portal API's view) passes these again: a value
# stored before the checks above existed, written into the database by hand, or sent by
# Stripe must still be inert. They never raise: an unsafe value is dropped (a URL becomes
# None, so no link is drawn) or replaced (a colour becomes the default accent).


def safe_link(url: str | None) -> str | None:
    """`url` when it is an absolute http(s) URL on a plain host (no `javascript:`, `data:`,
    no control characters, spaces or `<>"\\`, no user name), else None."""
    return _safe_url(url, _HTTP_SCHEMES)


def safe_logo_url(url: str | None) -> str | None:
    """`url` when it is an https URL on a plain host (what the page's img-src allows), else None."""
    return _safe_url(url, ("https",))


def _safe_url(url: str | None, schemes: tuple[str, ...]) -> str | None:
    if not isinstance(url, str) or not url or not _url_is_safe(url, schemes):
        return None
    return url


@lru_cache(maxsize=4096)
def _url_is_safe(url: str, schemes: tuple[str, ...]) -> bool:
    """Cached: every portal render checks the project's links and each invoice's Stripe page."""
    return _url_problem(url, schemes) is None


def safe_colour(value: str | None) -> str:
    """`value` when it is `#rrggbb`, else the default accent: nothing else may reach a style."""
    return value if isinstance(value, str) and _COLOUR.fullmatch(value) else DEFAULT_ACCENT_COLOR


def safe_email(value: str | None) -> str | None:
    """A plain address (what `check_email` accepts) or None: it becomes a `mailto:` link."""
    if not isinstance(value, str) or len(value) > _EMAIL_MAX or not _EMAIL.fullmatch(value):
        return None
    return value


# Project.link_binding: `browser` binds a portal link to the first browser that opens it
# (services/sessions/binding.py), `none` lets it open anywhere until it expires.
LINK_BINDING_BROWSER = "browser"
LINK_BINDING_NONE = "none"
LINK_BINDINGS = (LINK_BINDING_BROWSER, LINK_BINDING_NONE)


def check_link_binding(value: str) -> str:
    text = value.strip().lower()
    if text not in LINK_BINDINGS:
        raise invalid(f"linkBinding must be one of {', '.join(LINK_BINDINGS)}, got {value!r}.", param="linkBinding")
    return text
