"""Service settings (file, environment, checks) and `trd-fhir serve`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from trdfhir.cli import build_parser
from trdfhir.commands.serve import faces
from trdfhir.errors import SettingsError
from trdfhir.service import ServiceSettings, create_app, load_service_settings

from .conftest import ROOT


def test_defaults_are_safe() -> None:
    s = load_service_settings(env={})
    assert s.cds_auth_required is True
    assert s.cds_issuers == ()
    assert s.cors_origins == ("*",)
    assert s.public_base_url is None and s.fhir_base_url is None


def test_toml_file_with_issuers(tmp_path: Path) -> None:
    (tmp_path / "ehr-jwks.json").write_text(json.dumps({"keys": [{"kty": "EC", "kid": "k"}]}))
    path = tmp_path / "service.toml"
    path.write_text(
        """
public_base_url = "https://trd.example.org/"
fhir_base_url = "https://ehr.example.org/fhir"
cds_auth_required = true
cors_origins = ["https://ehr.example.org"]
max_body_bytes = 1000000
device_reference = "Device/trd"

[[cds_issuers]]
iss = "https://ehr.example.org"
jwks_urls = ["https://ehr.example.org/jwks"]

[[cds_issuers]]
iss = "https://sandbox.example.org"
jwks_file = "ehr-jwks.json"

[evaluation]
partial_counts_as_failure = true

[smart]
client_id = "trd-app"
"""
    )
    s = load_service_settings(path, env={})
    assert s.public_base_url == "https://trd.example.org"
    assert s.fhir_base_url == "https://ehr.example.org/fhir"
    assert s.cors_origins == ("https://ehr.example.org",)
    assert s.max_body_bytes == 1_000_000
    assert [i.iss for i in s.cds_issuers] == [
        "https://ehr.example.org",
        "https://sandbox.example.org",
    ]
    assert s.cds_issuers[1].inline_keys() == [{"kty": "EC", "kid": "k"}]
    assert s.evaluation == {"partial_counts_as_failure": True}
    assert s.smart == {"client_id": "trd-app"}
    app = create_app(s)
    assert app.state.trd.clinical.partial_counts_as_failure is True


def test_json_file_and_environment_on_top(tmp_path: Path) -> None:
    path = tmp_path / "service.json"
    path.write_text(json.dumps({"cds_auth_required": True, "max_resources": 10}))
    env = {
        "TRDFHIR_CDS_AUTH_REQUIRED": "false",
        "TRDFHIR_CORS_ORIGINS": "https://a.example, https://b.example",
        "TRDFHIR_CDS_ISSUERS": json.dumps([{"iss": "https://ehr", "jwks": {"keys": []}}]),
        "TRDFHIR_JWT_LEEWAY_SECONDS": "5",
        "TRDFHIR_SMART_CLIENT_ID": "app-1",
        "TRDFHIR_SERVICE_SETTINGS": str(path),
        "OTHER": "ignored",
    }
    s = load_service_settings(env=env)
    assert s.cds_auth_required is False
    assert s.max_resources == 10
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert s.cds_issuers[0].iss == "https://ehr"
    assert s.jwt_leeway_seconds == 5
    assert s.smart == {"client_id": "app-1"}


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"colour": "blue"}, "unknown service setting"),
        ({"cds_auth_required": "maybe"}, "true or false"),
        ({"max_body_bytes": "lots"}, "whole number"),
        ({"max_body_bytes": 0}, "at least 1"),
        ({"public_base_url": "trd.example.org"}, "http(s) URL"),
        ({"cors_origins": ["*", "https://a"]}, "cannot be combined"),
        ({"cds_issuers": {"iss": "x"}}, "list"),
        ({"cds_issuers": [{"iss": "x"}]}, "jwks_urls or an inline jwks"),
        ({"cds_issuers": [{"iss": "x", "jwks_urls": ["ftp://x"]}]}, "http(s) URL"),
        ({"cds_issuers": [{"iss": "x", "jwks": {"keys": []}, "colour": 1}]}, "unknown key"),
        ({"app_launch_path": "app"}, "start with /"),
        ({"jwt_leeway_seconds": 100000}, "between 0 and 3600"),
        ({"evaluation": "x"}, "object"),
    ],
)
def test_bad_settings(values: dict[str, object], fragment: str, tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(values))
    with pytest.raises(SettingsError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load_service_settings(path, env={})


def test_unreadable_settings_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_service_settings(tmp_path / "missing.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("= nope")
    with pytest.raises(SettingsError, match="not valid"):
        load_service_settings(bad, env={})


def test_unknown_evaluation_setting_fails_at_startup() -> None:
    with pytest.raises(SettingsError):
        create_app(ServiceSettings(evaluation={"no_such_threshold": 1}))


def test_serve_is_a_command() -> None:
    args = build_parser().parse_args(["serve", "--port", "9999"])
    assert (args.host, args.port, args.settings) == ("127.0.0.1", 9999, None)


def test_faces() -> None:
    lines = faces("https://trd.example.org", smart_app=True, fhir_base="https://ehr/fhir")
    text = "\n".join(lines)
    assert "POST https://trd.example.org/fhir/$trd-evaluate" in text
    assert "GET  https://trd.example.org/fhir/Patient/{id}/$trd-evaluate" in text
    assert "GET  https://trd.example.org/cds-services" in text
    assert "https://trd.example.org/app/launch" in text
    assert "not in this build" in "\n".join(faces("http://x", smart_app=False, fhir_base=None))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_and_prints_its_faces(tmp_path: Path) -> None:
    port = _free_port()
    settings = tmp_path / "service.toml"
    settings.write_text("cds_auth_required = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRDFHIR_")}
    cmd = [
        sys.executable,
        "-m",
        "trdfhir.cli",
        "serve",
        "--port",
        str(port),
        "--settings",
        str(settings),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(f"{base}/fhir/metadata", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.2)
        assert response.json()["fhirVersion"] == "4.0.1"
        assert requests.get(f"{base}/cds-services", timeout=5).status_code == 200
    finally:
        proc.terminate()
        stdout, _ = proc.communicate(timeout=10)
    assert f"POST {base}/fhir/$trd-evaluate" in stdout
    assert f"GET  {base}/cds-services" in stdout
