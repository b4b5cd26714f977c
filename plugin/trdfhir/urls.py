"""URLs compared by what they parse to, never by their text: one rule for every allow-list.

    url_allowed("https://ehr.example.org/fhir/r4", ("https://ehr.example.org/fhir",))  # True
    url_allowed("https://ehr.example.org.attacker.test/fhir", ("https://ehr.example.org",))
                                                                                      # False
    allowed_entry(jku, issuer.jwks_urls, prefix=False)   # the configured URL it matches, or None
    is_loopback("http://127.0.0.1:8080")  # True;  is_loopback("http://127.attacker.test") False

A URL matches an allow-list entry when both parse as absolute http(s) URLs with the same scheme,
host and port (the scheme's default port when none is given), the URL carries no user info
(`user:pass@`), no dot segments (`/./`, `/../`, also percent-encoded) and no query or fragment
confusion in its authority, and its path is the entry's path or below it on a segment boundary
(`/fhir` admits `/fhir` and `/fhir/r4`, never `/fhirx`). With `prefix=False` the paths must be
equal (trailing slashes aside). A string prefix test is never used: `https://ehr.example.org`
would admit `https://ehr.example.org.attacker.test` and `https://ehr.example.org@attacker.test`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters no host name or IP literal contains (after urlsplit took the authority apart).
_BAD_HOST = re.compile(r"[^a-z0-9.\-:\[\]]")


@dataclass(frozen=True)
class ParsedUrl:
    scheme: str  # http or https
    host: str  # lower case; IPv6 without brackets
    port: int  # explicit, or the scheme's default
    path: str  # without a trailing slash ("" for the root)

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{host}" + ("" if default else f":{self.port}")


def parse_url(url: str) -> ParsedUrl | None:
    """The parts of an absolute http(s) URL that decide where a request goes; None for anything
    else, and for URLs that hide where they go (user info, dot segments, odd host characters,
    control characters or backslashes anywhere, an invalid port)."""
    if not isinstance(url, str) or any(c in url for c in "\\\t\r\n\x00 ") or not url.isprintable():
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.netloc or "@" in parts.netloc:
        return None
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or _BAD_HOST.search(host):
        return None
    path = parts.path
    segments = unquote(path).split("/")
    if any(s in (".", "..") for s in segments):
        return None
    return ParsedUrl(scheme, host, port or DEFAULT_PORTS[scheme], path.rstrip("/"))


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, normalised (lower case, default port dropped); for a URL
    that does not parse, the text before its path (never equal to a parsed origin)."""
    parsed = parse_url(url)
    if parsed is not None:
        return parsed.origin
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def same_origin(a: str, b: str) -> bool:
    pa, pb = parse_url(a), parse_url(b)
    return pa is not None and pb is not None and pa.origin == pb.origin


def _matches(url: ParsedUrl, entry: ParsedUrl, prefix: bool) -> bool:
    if (url.scheme, url.host, url.port) != (entry.scheme, entry.host, entry.port):
        return False
    if not prefix:
        return url.path == entry.path
    return url.path == entry.path or url.path.startswith(entry.path + "/")


def allowed_entry(url: str, allowed: Iterable[str], *, prefix: bool = True) -> str | None:
    """The first allow-list entry that `url` matches (see the module's rule), or None."""
    parsed = parse_url(url)
    if parsed is None:
        return None
    for entry in allowed:
        wanted = parse_url(entry)
        if wanted is not None and _matches(parsed, wanted, prefix):
            return entry
    return None


def url_allowed(url: str, allowed: Iterable[str], *, prefix: bool = True) -> bool:
    return allowed_entry(url, allowed, prefix=prefix) is not None


def is_loopback(url: str) -> bool:
    """True only for `localhost` and IP literals of the loopback networks (127.0.0.0/8, ::1),
    read from the parsed URL: `http://127.attacker.test` is a remote host."""
    parsed = parse_url(url)
    if parsed is None:
        return False
    if parsed.host == "localhost":
        return True
    try:
        return ipaddress.ip_address(parsed.host).is_loopback
    except ValueError:
        return False


__all__ = [
    "ParsedUrl",
    "allowed_entry",
    "is_loopback",
    "origin_of",
    "parse_url",
    "same_origin",
    "url_allowed",
]
