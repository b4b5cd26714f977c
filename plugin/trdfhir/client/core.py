"""FhirClient: FHIR R4 REST on one requests.Session.

Every call has a timeout and bounded retries (http.py); failures become one-line errors of the
error tree: AuthError for 401/403 (after renewing the credentials once on a 401),
FhirServerError (with `.status`) for everything else. Credentials are only ever sent to the
server's own origin: links that point elsewhere are refused.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import metadata
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from ..auth.base import Auth
from ..errors import AuthError, FhirServerError
from ..urls import is_loopback, origin_of
from .capabilities import Capabilities, parse_capabilities
from .http import DEFAULT_TIMEOUT, RetryPolicy, Timeout, send

log = logging.getLogger("trdfhir.client")

FHIR_JSON = "application/fhir+json"
MAX_PAGES = 1000
Params = Mapping[str, str] | Sequence[tuple[str, str]] | None


def user_agent() -> str:
    try:
        return f"trd-fhir/{metadata.version('trd-fhir')}"
    except metadata.PackageNotFoundError:
        return "trd-fhir"


def describe(method: str, base: str, url: str) -> str:
    """A PHI-free name of an interaction: 'search Observation', 'read Patient', 'transaction'.
    Never contains ids or query values."""
    path = urlsplit(url).path
    base_path = urlsplit(base).path.rstrip("/")
    if path.startswith(base_path):
        path = path[len(base_path) :]
    segs = [s for s in path.split("/") if s]
    method = method.upper()
    if not segs:
        return "transaction/batch" if method == "POST" else f"{method} [base]"
    if segs[0] == "metadata":
        return "read CapabilityStatement"
    rtype = segs[0]
    if not rtype[:1].isupper():
        return f"{method} {rtype}"
    if len(segs) == 1:
        return {"GET": "search", "POST": "create", "PUT": "conditional update"}.get(
            method, "conditional delete" if method == "DELETE" else method
        ) + f" {rtype}"
    if segs[-1].startswith("$"):
        return f"{rtype} {segs[-1]}"
    if len(segs) == 2:
        if segs[1] == "_search":
            return f"search {rtype}"
        verb = {"GET": "read", "PUT": "update", "DELETE": "delete", "PATCH": "patch"}
        return f"{verb.get(method, method)} {rtype}"
    if len(segs) == 3 and segs[2][:1].isupper():
        return f"search {segs[2]} of {rtype}"
    return f"{method} {rtype}"


def outcome_text(body: Any) -> str:
    """'not-found: Patient not known' from an OperationOutcome (first issue, shortened)."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return ""
    issues = body.get("issue")
    first = issues[0] if isinstance(issues, list) and issues else None
    if not isinstance(first, dict):
        return ""
    code = first.get("code") if isinstance(first.get("code"), str) else ""
    text = first.get("diagnostics")
    if not isinstance(text, str):
        details = first.get("details")
        text = details.get("text") if isinstance(details, dict) else None
    text = " ".join(text.split())[:200] if isinstance(text, str) else ""
    return f"{code}: {text}" if code and text else code or text


class FhirClient:
    """A FHIR R4 server at `base_url`. Use as a context manager, or call close()."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        page_size: int = 100,
        session: requests.Session | None = None,
        allow_insecure_http: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        base = base_url.strip().rstrip("/")
        try:
            parts = urlsplit(base)
        except ValueError:  # e.g. "http://[::1" (an unclosed IPv6 bracket)
            raise FhirServerError(f"the FHIR base is not a URL: {base_url!r}") from None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise FhirServerError(f"the FHIR base must be an http(s) URL, got {base_url!r}")
        if auth is not None and parts.scheme == "http" and not is_loopback(base):
            if not allow_insecure_http:
                raise AuthError(
                    "refusing to send credentials over plain http to a remote server; "
                    "use https (or allow it explicitly)"
                )
        if page_size < 1:
            raise FhirServerError("the page size must be at least 1")
        self.base = base
        self.origin = origin_of(base)
        self.auth = auth
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.page_size = page_size
        self._own_session = session is None
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": FHIR_JSON, "User-Agent": user_agent()})
        self._sleep = sleep
        self._clock = clock
        self._capabilities: Capabilities | None = None
        self.requests_sent = 0

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FhirClient({self.base!r})"

    # -- HTTP --------------------------------------------------------------------------------
    def url(self, path_or_url: str) -> str:
        """An absolute URL on this server; links to any other origin are refused, so credentials
        never leave the server they were issued for."""
        if not path_or_url:
            return self.base
        if urlsplit(path_or_url).scheme not in ("http", "https"):
            return urljoin(self.base + "/", path_or_url.lstrip("/"))
        if origin_of(path_or_url) != self.origin:
            raise FhirServerError(
                f"the server sent a link to another origin ({origin_of(path_or_url)}); "
                "not following it"
            )
        return path_or_url

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.auth is not None:
            value = self.auth.authorization()
            if value:
                headers["Authorization"] = value
        return headers

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Any = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        what: str | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """One interaction; returns a response with status < 400 or raises. `stream`: the body
        is left unread (for downloads: iterate it, then close the response)."""
        method = method.upper()
        url = self.url(path_or_url)
        what = what or describe(method, self.base, url)
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
        extra = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            extra.setdefault("Content-Type", f"{FHIR_JSON}; charset=utf-8")
        renewed = tried_renewal = False
        while True:
            exchange = send(
                self.session,
                method,
                url,
                what=what,
                policy=self.retry,
                timeout=self.timeout,
                idempotent=idempotent,
                headers=lambda: self._headers(extra),
                params=params,
                data=data,
                sleep=self._sleep,
                clock=self._clock,
                stream=stream,
            )
            self.requests_sent += exchange.attempts
            response = exchange.response
            if response.status_code == 401 and self.auth is not None and not tried_renewal:
                tried_renewal = True
                if self.auth.renew():
                    log.info("%s: HTTP 401, credentials renewed; trying once more", what)
                    renewed = True
                    response.close()
                    continue
            self._raise_for(response, what, renewed, exchange.attempts)
            return response

    def _raise_for(
        self, response: requests.Response, what: str, renewed: bool, attempts: int
    ) -> None:
        status = response.status_code
        if status < 400:
            return
        try:
            detail = outcome_text(response.json())
        except ValueError:
            detail = ""
        finally:
            response.close()
        said = f" ({detail})" if detail else ""
        if status == 401:
            if self.auth is None:
                raise AuthError(f"{what}: the FHIR server requires authorization (HTTP 401)")
            again = " even after renewing the token" if renewed else ""
            raise AuthError(f"{what}: the FHIR server refused the credentials{again} (HTTP 401)")
        if status == 403:
            raise AuthError(
                f"{what}: forbidden (HTTP 403); the credentials lack the scope or permission{said}"
            )
        tries = f" after {attempts} tries" if attempts > 1 else ""
        raise FhirServerError(
            f"{what}: HTTP {status} {response.reason or ''}".rstrip() + f"{said}{tries}",
            status=status,
        )

    def get_json(
        self,
        path_or_url: str,
        *,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        what: str | None = None,
    ) -> dict[str, Any]:
        response = self.request("GET", path_or_url, params=params, headers=headers, what=what)
        return self.parse_json(response, what or describe("GET", self.base, response.url))

    def parse_json(self, response: requests.Response, what: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise FhirServerError(
                f"{what}: the server answered HTTP {response.status_code} with a body that is "
                "not JSON",
                status=response.status_code,
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            raise FhirServerError(f"{what}: the answer is not a FHIR resource")
        return data

    # -- capabilities ----------------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        """The server's CapabilityStatement, read once; refuses servers that are not R4."""
        if self._capabilities is None:
            statement = self.get_json("metadata", what="read CapabilityStatement")
            self._capabilities = parse_capabilities(statement)
            caps = self._capabilities
            log.info(
                "FHIR %s server (%s): %s resource types, transactions %s",
                caps.fhir_version,
                caps.software,
                "all" if caps.types is None else len(caps.types),
                "yes" if caps.transaction else "no",
            )
        return self._capabilities

    # -- reads -------------------------------------------------------------------------------------
    def read(self, rtype: str, rid: str) -> dict[str, Any]:
        return self.get_json(f"{rtype}/{rid}", what=f"read {rtype}")

    def pages(
        self,
        path: str,
        params: Params = None,
        *,
        headers: Mapping[str, str] | None = None,
        what: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Search result Bundles, following `next` links (bounded, loop-safe)."""
        url: str = path
        query: Params = params
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            bundle = self.get_json(url, params=query, headers=headers, what=what)
            if bundle.get("resourceType") != "Bundle":
                raise FhirServerError(f"{what or 'search'}: the answer is not a Bundle")
            yield bundle
            link = next_link(bundle)
            if link is None:
                return
            if link in seen:
                raise FhirServerError(f"{what or 'search'}: the server's next links loop")
            seen.add(link)
            url, query = self.url(urljoin(self.base + "/", link)), None
        raise FhirServerError(f"{what or 'search'}: more than {MAX_PAGES} pages; stopped")

    def search(
        self,
        path: str,
        params: Params = None,
        *,
        headers: Mapping[str, str] | None = None,
        what: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every resource of every page (matches and includes; outcome entries skipped)."""
        out: list[dict[str, Any]] = []
        pages = 0
        for bundle in self.pages(path, params, headers=headers, what=what):
            pages += 1
            for entry in bundle.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if not isinstance(resource, dict):
                    continue
                mode = (entry.get("search") or {}).get("mode")
                if mode == "outcome" or resource.get("resourceType") == "OperationOutcome":
                    continue
                out.append(resource)
        log.debug("%s: %d resources in %d pages", what or path, len(out), pages)
        return out

    def patient_ids(self) -> Iterator[str]:
        """Ids of every Patient on the server, page by page."""
        params = {"_elements": "id", "_count": str(self.page_size)}
        seen: set[str] = set()
        for bundle in self.pages("Patient", params, what="search Patient"):
            for entry in bundle.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if (
                    isinstance(resource, dict)
                    and resource.get("resourceType") == "Patient"
                    and isinstance(resource.get("id"), str)
                    and resource["id"] not in seen
                ):
                    seen.add(resource["id"])
                    yield resource["id"]


def next_link(bundle: Mapping[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            if isinstance(url, str) and url:
                return url
    return None
