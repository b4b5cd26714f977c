"""ServiceSettings: how the HTTP service is deployed (docs/service.md lists every key).

    settings = load_service_settings("service.toml")     # file (JSON or TOML), then TRDFHIR_* env
    settings = ServiceSettings(cds_auth_required=False)   # in code and tests

Frozen; the clock (`now`) is a field so that tests are deterministic. Unknown keys and ill-typed
values are SettingsError (one line, exit code 7), never silently ignored.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from ..auth.cds_jwt import CdsIssuer
from ..errors import SettingsError
from ..settings import parse_flag

ENV_PREFIX = "TRDFHIR_"
SETTINGS_FILE_ENV = "TRDFHIR_SERVICE_SETTINGS"
DEFAULT_DOCS_URL = "http://trd-fhir.org/docs/service"
STATE_STORES = ("memory", "sqlite", "auto")
_EMPTY: Mapping[str, Any] = MappingProxyType({})


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    public_base_url: str | None = None  # https://trd.example.org: card links, JWT `aud`
    fhir_base_url: str | None = None  # FHIR server of GET /fhir/Patient/{id}/$trd-evaluate
    fhir_forward_authorization: bool = True  # pass the caller's bearer token to that server
    cds_issuers: tuple[CdsIssuer, ...] = ()
    cds_auth_required: bool = True
    cds_fhir_servers: tuple[str, ...] = ()  # allowed `fhirServer` prefixes; empty: any
    cors_origins: tuple[str, ...] = ("*",)
    # requests a minute per client address on the unauthenticated endpoints (0: no limit)
    rate_limit_launch_per_minute: int = 60  # GET /app/launch
    rate_limit_discovery_per_minute: int = 120  # GET /cds-services
    rate_limit_evaluate_per_minute: int = 120  # $trd-evaluate (POST and GET)
    forwarded_header: str | None = None  # e.g. X-Forwarded-For, set by a trusted proxy only
    max_body_bytes: int = 10_000_000
    max_resources: int = 20_000
    max_depth: int = 100  # nested JSON objects/arrays in a request body
    max_evaluation_seconds: float = 10.0  # time for one evaluation (limits.py)
    jwt_leeway_seconds: int = 30
    jwt_max_lifetime_seconds: int = 300  # longest exp - iat of a CDS client JWT (plus leeway)
    jwt_replay_tokens_per_second: int = 100  # sizes the replay cache over that lifetime
    jwks_cache_seconds: int = 300
    docs_url: str = DEFAULT_DOCS_URL
    app_launch_path: str = "/app/launch"
    device_reference: str | None = None  # a Device on the EHR's server for card CarePlans
    mappings_dir: str | None = None
    evaluation: Mapping[str, Any] = field(default_factory=dict)  # clinical setting overrides
    smart: Mapping[str, Any] = field(default_factory=dict)  # read by the SMART app
    # FHIR Subscription notifications (service/subscriptions.py): mounted when the secret is set
    subscription_secret: str | None = None  # `Authorization: Bearer <secret>` on every call
    subscription_fhir_token: str | None = None  # bearer token for fhir_base_url, if it needs one
    subscription_queue_size: int = 1000
    subscription_retries: int = 4
    # the collector of a long-running server (app.tune_gc): young-generation threshold, 0: Python's
    gc_threshold: int = 50_000
    # worker processes of `trd-fhir serve` (--workers), and where they share their state
    workers: int = 1
    state_store: str = "auto"  # memory | sqlite | auto (sqlite when workers > 1)
    state_dir: str | None = None  # the SQLite store's directory; None: ~/.local/state/trd-fhir
    now: Callable[[], datetime] = field(default=utc_now, compare=False, repr=False)

    def __post_init__(self) -> None:
        for issuer in self.cds_issuers:
            for url in issuer.jwks_urls:
                _check_url(url, f"cds_issuers[{issuer.iss}].jwks_urls")
        for name in ("public_base_url", "fhir_base_url"):
            value = getattr(self, name)
            if value is not None:
                _check_url(value, name)
                object.__setattr__(self, name, value.rstrip("/"))
        for name in ("max_body_bytes", "max_resources"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1")
        if not 16 <= self.max_depth <= 500:
            raise SettingsError("max_depth must be between 16 and 500")
        if not 0 < self.max_evaluation_seconds <= 3600:
            raise SettingsError("max_evaluation_seconds must be above 0 and at most 3600")
        for name in ("jwt_leeway_seconds", "jwks_cache_seconds"):
            if not 0 <= getattr(self, name) <= 3600:
                raise SettingsError(f"{name} must be between 0 and 3600")
        if not 1 <= self.jwt_max_lifetime_seconds <= 3600:
            raise SettingsError("jwt_max_lifetime_seconds must be between 1 and 3600")
        if not 1 <= self.jwt_replay_tokens_per_second <= 100_000:
            raise SettingsError("jwt_replay_tokens_per_second must be between 1 and 100000")
        for name in (
            "rate_limit_launch_per_minute",
            "rate_limit_discovery_per_minute",
            "rate_limit_evaluate_per_minute",
        ):
            if not 0 <= getattr(self, name) <= 1_000_000:
                raise SettingsError(f"{name} must be between 0 (no limit) and 1000000")
        header = self.forwarded_header
        if header is not None and not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}", header):
            raise SettingsError(f"forwarded_header must be an HTTP header name, got {header!r}")
        if self.subscription_secret is not None:
            if len(self.subscription_secret) < 16:
                raise SettingsError("subscription_secret must be at least 16 characters")
            if self.fhir_base_url is None:
                raise SettingsError(
                    "subscription_secret needs fhir_base_url (the server to write to)"
                )
        if not 1 <= self.subscription_queue_size <= 1_000_000:
            raise SettingsError("subscription_queue_size must be between 1 and 1000000")
        if not 1 <= self.subscription_retries <= 20:
            raise SettingsError("subscription_retries must be between 1 and 20")
        if not 0 <= self.gc_threshold <= 10_000_000:
            raise SettingsError("gc_threshold must be between 0 (Python's default) and 10000000")
        if not 1 <= self.workers <= 64:
            raise SettingsError("workers must be between 1 and 64")
        if self.state_store not in STATE_STORES:
            raise SettingsError(f"state_store must be one of {', '.join(STATE_STORES)}")
        if not self.app_launch_path.startswith("/"):
            raise SettingsError("app_launch_path must start with /")
        if "*" in self.cors_origins and len(self.cors_origins) > 1:
            raise SettingsError("cors_origins: '*' cannot be combined with named origins")
        object.__setattr__(self, "evaluation", MappingProxyType(dict(self.evaluation)))
        object.__setattr__(self, "smart", MappingProxyType(dict(self.smart)))

    @property
    def shared_state(self) -> bool:
        """True when the stores that must hold across worker processes live in the SQLite file
        (service/shared.py)."""
        return self.state_store == "sqlite" or (self.state_store == "auto" and self.workers > 1)

    def state_path(self) -> Path:
        if self.state_dir:
            return Path(self.state_dir).expanduser()
        return Path.home() / ".local" / "state" / "trd-fhir"

    def issuer(self, iss: str) -> CdsIssuer | None:
        return next((i for i in self.cds_issuers if i.iss == iss), None)


def _check_url(value: str, name: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an http(s) URL, got {value!r}")


# -- loading -------------------------------------------------------------------------------------

_LOADABLE = {f.name: f for f in fields(ServiceSettings) if f.name != "now"}


def load_service_settings(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    now: Callable[[], datetime] = utc_now,
) -> ServiceSettings:
    """Settings from a JSON/TOML file (`path`, else $TRDFHIR_SERVICE_SETTINGS), then TRDFHIR_*
    environment variables on top."""
    environ = os.environ if env is None else env
    path = path or environ.get(SETTINGS_FILE_ENV) or None
    values: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path:
        values.update(read_settings_file(Path(path)))
        base_dir = Path(path).resolve().parent
    from_env = _from_env(environ)
    table = values.get("smart")
    if "smart" in from_env and isinstance(table, Mapping):
        from_env["smart"] = {**table, **from_env["smart"]}  # one variable sets one key
    values.update(from_env)
    return build_settings(values, base_dir=base_dir, now=now)


def read_settings_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot read service settings {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise SettingsError(f"service settings {path} are not valid: {exc}") from None
    if not isinstance(data, dict):
        raise SettingsError(f"service settings {path} must hold an object/table")
    return data


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    smart: dict[str, str] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key == SETTINGS_FILE_ENV:
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name.startswith("smart_"):
            smart[name[len("smart_") :]] = raw
        elif name in _LOADABLE and name not in ("evaluation", "smart"):
            out[name] = _env_value(name, raw)
    if smart:
        out["smart"] = smart
    return out


def _env_value(name: str, raw: str) -> Any:
    if name == "cds_issuers":
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"TRDFHIR_CDS_ISSUERS must be a JSON list: {exc}") from None
    if name in ("cors_origins", "cds_fhir_servers"):
        return [p.strip() for p in raw.split(",") if p.strip()]
    return raw


def build_settings(
    values: Mapping[str, Any],
    *,
    base_dir: Path | None = None,
    now: Callable[[], datetime] = utc_now,
) -> ServiceSettings:
    """A plain mapping (file or environment) -> checked ServiceSettings."""
    unknown = sorted(set(values) - set(_LOADABLE))
    if unknown:
        raise SettingsError(f"unknown service setting(s): {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        kwargs[name] = _coerce(name, value, base_dir or Path.cwd())
    try:
        return ServiceSettings(**kwargs, now=now)
    except TypeError as exc:
        raise SettingsError(f"service settings: {exc}") from None


def _coerce(name: str, value: Any, base_dir: Path) -> Any:
    kind = _LOADABLE[name].type
    if name == "cds_issuers":
        if not isinstance(value, list):
            raise SettingsError("cds_issuers must be a list of {iss, jwks_urls, jwks|jwks_file}")
        return tuple(_issuer(item, base_dir) for item in value)
    if kind == "bool":
        return parse_flag(name, value)
    if kind == "int":
        try:
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{name} must be a whole number, got {value!r}") from None
    if kind == "float":
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{name} must be a number, got {value!r}") from None
        if number != number:  # NaN
            raise SettingsError(f"{name} must be a number, got {value!r}")
        return number
    if kind == "tuple[str, ...]":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise SettingsError(f"{name} must be a list of strings")
        return tuple(i.strip() for i in items if i.strip())
    if kind == "Mapping[str, Any]":
        if not isinstance(value, Mapping):
            raise SettingsError(f"{name} must be an object/table")
        return value
    if value is not None and not isinstance(value, str):
        raise SettingsError(f"{name} must be a string, got {value!r}")
    return value or None if kind == "str | None" else value


def _issuer(item: Any, base_dir: Path) -> CdsIssuer:
    if not isinstance(item, Mapping):
        raise SettingsError("cds_issuers: each issuer must be an object/table")
    extra = set(item) - {"iss", "jwks_urls", "jwks", "jwks_file"}
    if extra:
        raise SettingsError(f"cds_issuers: unknown key(s) {', '.join(sorted(extra))}")
    jwks = item.get("jwks")
    if item.get("jwks_file"):
        jwks = read_settings_file(base_dir / str(item["jwks_file"]))
    urls = item.get("jwks_urls") or []
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise SettingsError("cds_issuers: jwks_urls must be a list of URLs")
    return CdsIssuer(iss=str(item.get("iss") or ""), jwks_urls=tuple(urls), jwks=jwks)
