"""No patient data and no secret in any log line of a full run, at DEBUG level.

The run: `trd-fhir evaluate` of every vignette, `trd-fhir sync --write` against the sandbox
with a bearer token and again with SMART backend services (signed client assertions), all
in-process with every logger at DEBUG (trd-fhir's own and the libraries': urllib3 logs each
request URL); then `trd-fhir serve --log-level debug` as its own process (uvicorn's access log on,
as deployed) answering `$trd-evaluate` (POST, and GET with a forwarded bearer token), the three
CDS services with a signed JWT and a `fhirAuthorization` token (the prefetch incomplete, so the
service reads the sandbox with it), feedback, and a whole SMART EHR launch with the page and the
write-back. Every line of both logs is scanned for every patient name, birth date, identifier
and resource id of the 20 vignettes and of the copies made here, and for every token, JWT,
authorization code, state, refresh token, client assertion, session id and CSRF token used.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.api.conftest import Signer
from tests.fuzz.budget import FIGURES
from tests.integration.conftest import clone_example, load_clone
from tests.integration.servers import FaultProxy, TokenServer
from trdfhir.auth import backend as backend_module
from trdfhir.auth import generate_signing_key, private_key_pem, public_jwks
from trdfhir.cli import main
from trdfhir.devtools.smart_server import RegisteredClient, SmartTestServer
from trdfhir.sandbox import Example, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LOGGERS = ("trdfhir", "uvicorn", "uvicorn.access", "uvicorn.error", "urllib3", "fastapi", "jwt")
MIN_NEEDLE = 6  # shorter values (e.g. "male") would match ordinary words


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.extend(self.format(record).splitlines())


@pytest.fixture
def captured() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    saved = {
        name: (logging.getLogger(name).level, logging.getLogger(name).propagate) for name in LOGGERS
    }
    root_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
        logging.getLogger(name).propagate = True
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(root_level)
        for name, (level, propagate) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).propagate = propagate


def phi_of(bundles: list[dict[str, Any]]) -> set[str]:
    """Names, birth dates, identifiers and resource ids of these records."""
    out: set[str] = set()
    for bundle in bundles:
        for entry in bundle["entry"]:
            r = entry["resource"]
            out.add(r["id"])
            for ident in r.get("identifier", []):
                out.add(str(ident.get("value", "")))
            if r["resourceType"] == "Patient":
                out.add(r.get("birthDate", ""))
                for name in r.get("name", []):
                    out.update([name.get("family", ""), *name.get("given", [])])
                    out.add(" ".join([*name.get("given", []), name.get("family", "")]))
    return {n for n in out if len(n) >= MIN_NEEDLE}


def leaks(lines: list[str], needles: dict[str, str]) -> list[str]:
    found = []
    for line in lines:
        for needle, kind in needles.items():
            if needle in line:
                found.append(f"{kind} {needle[:12]}... in: {line[:200]}")
    return found


# -- the in-process part: CLI evaluate, sync with a token and with backend services --------------
def test_no_phi_or_secret_in_any_log_line(
    captured: Capture,
    loaded: str,
    examples: list[Example],
    proxy: FaultProxy,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets: dict[str, str] = {}
    copies = [load_clone(loaded, examples[i], f"logscan-{i}") for i in (1, 10, 13)]
    phi = phi_of([e.bundle for e in examples] + [c.bundle for c in copies])

    # CLI evaluate, every vignette
    for example in examples:
        assert main(["evaluate", str(example.path), "--as-of", example.as_of.isoformat()]) == 0
    # sync --write with a bearer token (sent over loopback http)
    token = f"sync-bearer-{uuid.uuid4().hex}"
    secrets[token] = "bearer token"
    code = main(
        [
            *("sync", "--fhir-base", loaded, "--patient", copies[0].patient_id, "--write", "-v"),
            *("--token", token, "--as-of", copies[0].as_of.isoformat()),
        ]
    )
    assert code == 0
    # sync with SMART backend services: every signed assertion recorded
    assertions: list[str] = []
    real_assertion = backend_module.client_assertion

    def recording(*args: Any, **kwargs: Any) -> str:
        assertion = real_assertion(*args, **kwargs)
        assertions.append(assertion)
        return assertion

    monkeypatch.setattr(backend_module, "client_assertion", recording)
    key = generate_signing_key("RS384")
    (tmp_path / "key.pem").write_bytes(private_key_pem(key))
    tokens = TokenServer("trd-engine", public_jwks([key]))
    try:
        proxy.accept_token = tokens.accept
        proxy.smart_configuration = {
            "token_endpoint": tokens.url,
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }
        code = main(
            [
                *("sync", "--fhir-base", proxy.base, "--patient", copies[1].patient_id, "-v"),
                *("--backend-client-id", "trd-engine", "--backend-key", str(tmp_path / "key.pem")),
                *("--as-of", copies[1].as_of.isoformat(), "--write"),
            ]
        )
        assert code == 0, capsys.readouterr().err
        assert assertions
        for issued in tokens.valid:
            secrets[issued] = "backend access token"
    finally:
        tokens.close()
    for assertion in assertions:
        secrets[assertion] = "client assertion"
        secrets[assertion.split(".")[2]] = "client assertion signature"
    capsys.readouterr()
    in_process = list(captured.lines)

    # the service as deployed: its own process, uvicorn's logging, access log on, DEBUG
    service_log, service_secrets = run_the_service(tmp_path, loaded, examples, copies)
    secrets.update(service_secrets)

    if os.environ.get("TRDFHIR_SHOW_LOGS"):  # to read what was scanned
        Path(os.environ["TRDFHIR_SHOW_LOGS"]).write_text("\n".join(in_process + service_log))
    needles = {**dict.fromkeys(phi, "PHI"), **secrets}
    assert leaks([f"a {examples[0].patient_id} b", f"c {token} d"], needles)  # the scan works
    found = leaks(in_process, needles) + leaks(service_log, needles)
    FIGURES["log lines scanned"] = len(in_process) + len(service_log)
    FIGURES["log needles (PHI values, secrets)"] = len(needles)
    assert in_process and service_log
    assert any("uvicorn.access" in line or '" 200' in line for line in service_log)
    assert any("urllib3" in line for line in in_process)  # the library's URL lines were seen
    assert found == [], "\n".join(found[:20])


# -- the service -----------------------------------------------------------------------------
def wait_until_up(base: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{base}/fhir/metadata", timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):
            assert proc.poll() is None, "the service exited at start"
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)


def run_the_service(
    tmp_path: Path, loaded: str, examples: list[Example], copies: list[Example]
) -> tuple[list[str], dict[str, str]]:
    secrets: dict[str, str] = {}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    signer = Signer(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS384", "k1")
    ehr = SmartTestServer(loaded).start()
    ehr.register(RegisteredClient("trd-logscan", (f"{base}/app/callback",)))
    settings = {
        "public_base_url": base,
        "fhir_base_url": loaded,
        "cds_issuers": [{"iss": signer.iss, "jwks": signer.jwks()}],
        "smart": {
            "client_id": "trd-logscan",
            "iss": ehr.fhir_base,
            "as_of_by_patient": {c.patient_id: c.as_of.isoformat() for c in copies},
        },
    }
    (tmp_path / "service.json").write_text(json.dumps(settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRDFHIR_")}
    log_path = tmp_path / "service.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "trdfhir.cli", "serve", "--port", str(port)),
                *("--settings", str(tmp_path / "service.json"), "--log-level", "debug"),
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        wait_until_up(base, proc)
        http = requests.Session()
        example = examples[0]
        # $trd-evaluate, POST and GET (a bearer token forwarded to the sandbox)
        body = {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "bundle", "resource": example.bundle},
                {"name": "asOf", "valueDate": example.as_of.isoformat()},
            ],
        }
        fhir = {"Content-Type": "application/fhir+json"}
        assert http.post(f"{base}/fhir/$trd-evaluate", json=body, headers=fhir).ok
        forwarded = f"forwarded-{uuid.uuid4().hex}"
        secrets[forwarded] = "forwarded bearer token"
        answer = http.get(
            f"{base}/fhir/Patient/{copies[2].patient_id}/$trd-evaluate",
            params={"asOf": copies[2].as_of.isoformat()},
            headers={"Authorization": f"Bearer {forwarded}"},
        )
        assert answer.ok, answer.text
        # CDS: a JWT each call; the prefetch lacks keys, read from the sandbox with a token
        record = clone_example(examples[10], copies[1].patient_id)
        for service, hook in (
            ("trd-patient-view", "patient-view"),
            ("trd-order-select", "order-select"),
            ("trd-order-sign", "order-sign"),
        ):
            url = f"{base}/cds-services/{service}"
            jwt_token = signer.token(url, now=_now())
            secrets[jwt_token] = "CDS client JWT"
            secrets[jwt_token.split(".")[2]] = "CDS client JWT signature"
            fhir_token = f"fhir-auth-{uuid.uuid4().hex}"
            secrets[fhir_token] = "fhirAuthorization token"
            context: dict[str, Any] = {
                "userId": "Practitioner/x",
                "patientId": copies[1].patient_id,
            }
            if hook != "patient-view":
                order = {
                    "resourceType": "MedicationRequest",
                    "id": "draft-1",
                    "status": "draft",
                    "intent": "order",
                    "subject": {"reference": f"Patient/{copies[1].patient_id}"},
                    "medicationCodeableConcept": {"text": "sertraline 50 mg"},
                }
                context["draftOrders"] = {
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [{"resource": order}],
                }
                if hook == "order-select":
                    context["selections"] = ["MedicationRequest/draft-1"]
            request = {
                "hook": hook,
                "hookInstance": str(uuid.uuid4()),
                "fhirServer": loaded,
                "fhirAuthorization": {
                    "access_token": fhir_token,
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "scope": "patient/*.read",
                    "subject": "trd-fhir",
                    "patient": copies[1].patient_id,
                },
                "context": context,
                "prefetch": {
                    "patient": next(
                        e["resource"]
                        for e in record["entry"]
                        if e["resource"]["resourceType"] == "Patient"
                    )
                },
            }
            response = http.post(
                url, json=request, headers={"Authorization": f"Bearer {jwt_token}"}
            )
            assert response.ok, response.text
        feedback_url = f"{base}/cds-services/trd-patient-view/feedback"
        jwt_token = signer.token(feedback_url, now=_now())
        secrets[jwt_token] = "CDS client JWT"
        feedback = {
            "feedback": [
                {
                    "card": str(uuid.uuid4()),
                    "outcome": "overridden",
                    "outcomeTimestamp": "2026-01-01T00:00:00Z",
                }
            ]
        }
        assert http.post(
            feedback_url, json=feedback, headers={"Authorization": f"Bearer {jwt_token}"}
        ).ok
        http.post(  # a refused JWT is logged as refused, never shown
            url, json={}, headers={"Authorization": f"Bearer {jwt_token}"}
        )
        # a SMART EHR launch, the page, the write-back
        smart_launch(http, base, ehr, copies[0].patient_id, secrets)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
        ehr.stop()
    for token in ehr.access_tokens():
        secrets[token] = "SMART access token"
    for token in list(ehr._refresh_tokens):
        secrets[token] = "SMART refresh token"
    return log_path.read_text().splitlines(), secrets


def smart_launch(
    http: requests.Session, base: str, ehr: SmartTestServer, patient: str, secrets: dict[str, str]
) -> None:
    started = http.get(
        f"{base}/app/launch",
        params={"iss": ehr.fhir_base, "launch": ehr.new_launch(patient)},
        allow_redirects=False,
    )
    assert started.status_code == 302, started.text
    authorize = started.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    secrets[query["state"][0]] = "SMART state"
    with requests.get(authorize, allow_redirects=False, timeout=10) as approved:
        back = approved.headers["location"]
    code = parse_qs(urlsplit(back).query)["code"][0]
    secrets[code] = "authorization code"
    opened = http.get(back, allow_redirects=False)
    assert opened.status_code == 303, opened.text
    for cookie in http.cookies:
        if cookie.name == "trd-smart":
            secrets[str(cookie.value)] = "session id"
    page = http.get(f"{base}/app/")
    assert page.ok, page.text[:300]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    secrets[csrf.group(1)] = "CSRF token"
    written = http.post(
        f"{base}/app/write-back",
        json={},
        headers={"Accept": "application/json", "X-CSRF-Token": csrf.group(1), "Origin": base},
    )
    assert written.ok, written.text


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
