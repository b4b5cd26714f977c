"""`make demo`'s SMART app: our test authorization server (with its mini EHR and token-checking
FHIR proxy) and the trd-fhir service with the SMART app, in one background process on
127.0.0.1, in front of the sandbox FHIR server. Development only.

    demo = start_smart_demo(fhir_base, state_dir)   # reuses a running one; -> SmartDemo
    demo.ehr_page        http://127.0.0.1:8091/ehr          one EHR-launch link per patient
    demo.standalone      http://127.0.0.1:8092/app/launch   standalone launch, patient picker

    python -m trdfhir.devtools.smart_demo serve --fhir-base URL [--ehr-port N] [--app-port N]
    python -m trdfhir.devtools.smart_demo stop [--state DIR]

Each example patient opens at its vignette's as-of date (examples/index.json); `?as_of=` or the
date field on the page changes it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from ..sandbox import HOST, SandboxError, file_lock, free_port, port_is_free, read_examples

MODULE = "trdfhir.devtools.smart_demo"
CLIENT_ID = "trd-fhir-demo"
EHR_PORT = 8091
APP_PORT = 8092
READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class SmartDemo:
    ehr: str  # the authorization server / mini EHR, e.g. http://127.0.0.1:8091
    app: str  # the trd-fhir service, e.g. http://127.0.0.1:8092
    fhir: str  # the sandbox FHIR server behind the EHR's proxy

    @property
    def ehr_page(self) -> str:
        return f"{self.ehr}/ehr"

    @property
    def standalone(self) -> str:
        return f"{self.app}/app/launch"


def _pid_file(state: Path) -> Path:
    return state / "smart-demo.json"


def _read(state: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(_pid_file(state).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def _is_ours(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return MODULE in cmdline and " serve " in f"{cmdline} "


def _answers(demo: SmartDemo) -> bool:
    try:
        with requests.get(f"{demo.app}/app/static/app.css", timeout=2) as app:
            ok = app.status_code == 200
        url = f"{demo.ehr}/fhir/.well-known/smart-configuration"
        with requests.get(url, timeout=2) as ehr:
            return ok and ehr.status_code == 200
    except requests.RequestException:
        return False


def running(state: Path) -> SmartDemo | None:
    info = _read(state)
    if not info or not _is_ours(info["pid"]):
        return None
    demo = SmartDemo(ehr=str(info["ehr"]), app=str(info["app"]), fhir=str(info["fhir"]))
    return demo if _answers(demo) else None


def stop_smart_demo(state: Path) -> bool:
    info = _read(state)
    stopped = False
    if info and _is_ours(info["pid"]):
        with contextlib.suppress(ProcessLookupError):
            os.kill(info["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _is_ours(info["pid"]):
            time.sleep(0.1)
        stopped = True
    _pid_file(state).unlink(missing_ok=True)
    return stopped


def _port(preferred: int) -> int:
    return preferred if port_is_free(preferred) else free_port()


def start_smart_demo(
    fhir_base: str, state: Path, *, examples: Path | None = None
) -> tuple[SmartDemo, bool]:
    """(the demo, started now?): reuses a running demo on the same FHIR server."""
    state.mkdir(parents=True, exist_ok=True)
    with file_lock(state / "smart-demo.lock"):
        current = running(state)
        if current is not None and current.fhir == fhir_base:
            return current, False
        stop_smart_demo(state)
        ehr_port, app_port = _port(EHR_PORT), _port(APP_PORT)
        if app_port == ehr_port:
            app_port = free_port()
        demo = SmartDemo(
            ehr=f"http://{HOST}:{ehr_port}", app=f"http://{HOST}:{app_port}", fhir=fhir_base
        )
        argv = [sys.executable, "-m", MODULE, "serve", "--fhir-base", fhir_base]
        argv += ["--ehr-port", str(ehr_port), "--app-port", str(app_port)]
        if examples is not None:
            argv += ["--examples", str(examples)]
        with (state / "smart-demo.log").open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our own module, fixed argv
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while not _answers(demo):
            if process.poll() is not None or time.monotonic() > deadline:
                if process.poll() is None:
                    process.terminate()
                raise SandboxError(f"the SMART demo did not start; see {state / 'smart-demo.log'}")
            time.sleep(0.1)
        _pid_file(state).write_text(
            json.dumps({"pid": process.pid, "ehr": demo.ehr, "app": demo.app, "fhir": fhir_base})
        )
        return demo, True


# -- the background process ------------------------------------------------------------------------
def serve(fhir_base: str, ehr_port: int, app_port: int, examples: Path | None) -> None:
    import uvicorn

    from ..service import ServiceSettings, create_app
    from .smart_server import RegisteredClient, SmartTestServer

    app_base = f"http://{HOST}:{app_port}"
    ehr = SmartTestServer(fhir_base)
    ehr.register(
        RegisteredClient(
            CLIENT_ID, (f"{app_base}/app/callback",), launch_url=f"{app_base}/app/launch"
        )
    )
    ehr.start(ehr_port)
    hints = {}
    if examples is not None and examples.is_dir():
        hints = {e.patient_id: e.as_of.isoformat() for e in read_examples(examples)}
    settings = ServiceSettings(
        smart={
            "client_id": CLIENT_ID,
            "iss": ehr.fhir_base,
            "frame_ancestors": [ehr.base],
            "as_of_by_patient": hints,
        }
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=HOST, port=app_port, log_level="warning")
    )
    try:
        server.run()  # until SIGTERM or SIGINT
    finally:
        ehr.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="run the demo in the foreground")
    run.add_argument("--fhir-base", required=True)
    run.add_argument("--ehr-port", type=int, default=EHR_PORT)
    run.add_argument("--app-port", type=int, default=APP_PORT)
    run.add_argument("--examples", type=Path)
    halt = sub.add_parser("stop", help="stop the background demo")
    halt.add_argument("--state", type=Path, default=Path(".sandbox"))
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.fhir_base, args.ehr_port, args.app_port, args.examples)
        return 0
    stopped = stop_smart_demo(args.state)
    sys.stdout.write("SMART demo stopped\n" if stopped else "SMART demo was not running\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
