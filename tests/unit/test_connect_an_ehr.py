"""docs/connect-an-ehr.md names only settings, options and helpers that exist, and its settings
file loads.

Every `snake_case` name in the guide's text, every `smart.<key>`, every `TRDFHIR_*` variable and
every `--option` must be a real service/SMART setting, environment variable or CLI option; every key
of its TOML examples must be one the loader accepts; the complete settings file of step 5 must load
through the service's own loader.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import trdfhir.auth
from trdfhir.cli import build_parser
from trdfhir.service.settings import ServiceSettings, load_service_settings
from trdfhir.service.smart_app import SmartAppSettings

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "connect-an-ehr.md"
ISSUER_KEYS = {"iss", "jwks_urls", "jwks", "jwks_file"}
# other names the guide may write in code: SMART/OAuth fields, JWT claims, and helper functions
NOT_SETTINGS = {
    "client_credentials",
    "private_key_jwt",
    "code_challenge_methods_supported",
    "response_type",
    "redirect_uri",
    "client_id",
    "proxy_add_x_forwarded_for",
    "remote_addr",
}
CLI_ENV = {"TRDFHIR_TOKEN", "TRDFHIR_KEY_PASSWORD", "TRDFHIR_SERVICE_SETTINGS", "TRDFHIR_DEBUG"}


def _names(cls: Any) -> set[str]:
    if dataclasses.is_dataclass(cls):
        return {f.name for f in dataclasses.fields(cls)}
    return set(cls.model_fields)  # a pydantic model


SERVICE = _names(ServiceSettings) - {"now"}
SMART = _names(SmartAppSettings)


def _text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return [
        "\n".join(line.removeprefix("      ") for line in block.splitlines())
        for block in re.findall(rf"^ *```{lang}\n(.*?)^ *```", _text(), re.M | re.S)
    ]


def _prose() -> str:
    return re.sub(r"^ *```.*?^ *```", "", _text(), flags=re.M | re.S)


def _options(parser: argparse.ArgumentParser) -> Iterator[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _options(sub)
        yield from action.option_strings


def test_every_setting_named_in_the_text_exists() -> None:
    spans = re.findall(r"`([^`\n]+)`", _prose())
    snake = {s for s in spans if re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)+", s)}
    unknown = snake - SERVICE - SMART - ISSUER_KEYS - NOT_SETTINGS
    assert unknown == set()
    smart = set(re.findall(r"`smart\.([a-z_]+)`", _prose()))
    assert smart and smart <= SMART, smart - SMART


def test_every_environment_variable_exists() -> None:
    named = set(re.findall(r"\bTRDFHIR_[A-Z0-9_]+", _text()))
    known = (
        {f"TRDFHIR_{k.upper()}" for k in SERVICE}
        | {f"TRDFHIR_SMART_{k.upper()}" for k in SMART}
        | CLI_ENV
        | {"TRDFHIR_SMART_", "TRDFHIR_"}  # the prefixes themselves
    )
    assert named - known == set()


def test_every_cli_option_exists() -> None:
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", _text()))
    assert named - set(_options(build_parser())) == set()


def test_every_helper_it_imports_exists() -> None:
    (code,) = _blocks("python")
    imported = re.findall(r"from trdfhir\.auth import (.+)", code)
    names = {n.strip() for line in imported for n in line.split(",")}
    assert names and all(hasattr(trdfhir.auth, n) for n in names), names


def _check_keys(table: Mapping[str, Any]) -> list[str]:
    bad = [k for k in table if k not in SERVICE]
    bad += [f"smart.{k}" for k in table.get("smart", {}) if k not in SMART]
    bad += [
        f"cds_issuers.{k}" for i in table.get("cds_issuers", []) for k in i if k not in ISSUER_KEYS
    ]
    return bad


def test_every_toml_example_uses_real_keys() -> None:
    blocks = _blocks("toml")
    assert len(blocks) >= 4
    assert [b for t in map(tomllib.loads, blocks) for b in _check_keys(t)] == []


def test_the_whole_settings_file_loads(tmp_path: Path) -> None:
    whole = next(b for b in _blocks("toml") if "[smart]" in b and "public_base_url" in b)
    path = tmp_path / "service.toml"
    path.write_text(whole, encoding="utf-8")
    settings = load_service_settings(path, env={})
    assert settings.public_base_url == "https://trd.example.org"
    assert settings.forwarded_header == "X-Forwarded-For"
    smart = SmartAppSettings.from_mapping(settings.smart)
    assert smart.frame_ancestors == ("https://ehr.example.org",)


@pytest.mark.parametrize("typo", ["smart.client_idd", "frame_ancestor"])
def test_the_check_catches_a_misspelt_setting(typo: str) -> None:
    key = typo.removeprefix("smart.")
    assert key not in SERVICE | SMART | ISSUER_KEYS | NOT_SETTINGS
