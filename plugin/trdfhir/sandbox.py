"""The sandbox FHIR server: sekmet-fhir (PyPI, FastAPI + SQLite, FHIR 4.0.1) in its own venv.

- `ensure_installed`: creates `<state>/venv` once and installs sekmet-fhir pinned by
  `sandbox/constraints.txt` (its dependencies are unpinned and would fight ours); reinstalls
  only when the constraints change. A file lock makes concurrent callers wait for each other.
- `start_server`: always on 127.0.0.1, with a settings file that disables sekmet's hospital
  simulator and its traffic log; SQLite in a file, or `:memory:` for tests.
- `to_transaction` / `load_examples`: example Bundles (collections) become transactions of
  PUT Type/id, so loading twice changes nothing but version numbers.

Used by `trd-fhir sandbox`, `make demo` and the integration tests alike.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

import requests

from .client import FhirClient, post_transaction
from .errors import EXIT_SERVER, InputError, TrdFhirError
from .fhir.values import reference_target

HOST = "127.0.0.1"
DEFAULT_PORT = 8090
READY_TIMEOUT = 60.0
PACKAGE = "sekmet-fhir"
_STAMP = ".trdfhir-installed"


class SandboxError(TrdFhirError):
    exit_code = EXIT_SERVER
    http_status = 503
    issue_code = "transient"


def project_root() -> Path:
    """The source checkout this package runs from, else the working directory."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "sandbox" / "constraints.txt").is_file():
        return checkout
    return Path.cwd()


def constraints_file(root: Path | None = None) -> Path:
    candidates = [
        (root or project_root()) / "sandbox" / "constraints.txt",
        Path(__file__).resolve().parent / "_data" / "sandbox-constraints.txt",
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise SandboxError("sandbox/constraints.txt not found; run from the trd-fhir checkout")


@dataclass(frozen=True)
class SandboxPaths:
    state: Path  # .sandbox/: settings, data, pid file, log
    venv_dir: Path | None = None  # default: <state>/venv

    @property
    def venv(self) -> Path:
        return self.venv_dir or self.state / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def executable(self) -> Path:
        return self.venv / "bin" / "sekmet"

    @property
    def settings(self) -> Path:
        return self.state / "sekmet-settings.yaml"

    @property
    def database(self) -> Path:
        return self.state / "data" / "sekmet.db"

    @property
    def pid_file(self) -> Path:
        return self.state / "sekmet.pid"

    @property
    def log(self) -> Path:
        return self.state / "sekmet.log"


def default_paths(root: Path | None = None, state: Path | None = None) -> SandboxPaths:
    """<root>/.sandbox, or another state directory that shares <root>/.sandbox/venv."""
    home = (root or project_root()) / ".sandbox"
    return SandboxPaths(state=state or home, venv_dir=home / "venv")


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _run(cmd: list[str], what: str, timeout: float) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            cmd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit code {done.returncode}"
        raise SandboxError(f"{what} failed: {last}")


def ensure_installed(
    paths: SandboxPaths,
    constraints: Path | None = None,
    *,
    python: str = sys.executable,
    log: IO[str] | None = None,
) -> Path:
    """sekmet-fhir in `paths.venv`, pinned by the constraints file; returns its executable."""
    constraints = constraints or constraints_file()
    digest = hashlib.sha256(constraints.read_bytes()).hexdigest()
    stamp = paths.venv / _STAMP
    with file_lock(paths.venv.parent / "install.lock"):
        if paths.executable.is_file() and stamp.is_file() and stamp.read_text() == digest:
            return paths.executable
        if log:
            log.write(f"installing {PACKAGE} into {paths.venv} (once; about 20 s)\n")
            log.flush()
        if not paths.python.is_file():
            _run([python, "-m", "venv", str(paths.venv)], "creating the sandbox venv", 120)
        _run(
            [
                str(paths.python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "-c",
                str(constraints),
                PACKAGE,
            ],
            f"installing {PACKAGE}",
            900,
        )
        if not paths.executable.is_file():
            raise SandboxError(f"{PACKAGE} installed but {paths.executable} is missing")
        stamp.write_text(digest)
    return paths.executable


def settings_document(port: int, database: str, data_dir: Path) -> dict[str, Any]:
    """sekmet's settings: loopback only, no simulator, no traffic log, no auth (sandbox)."""
    return {
        "host": HOST,
        "port": port,
        "base_url": f"http://{HOST}:{port}/fhir",
        "data_dir": str(data_dir),
        "db_path": database,
        "own_private_key_path": str(data_dir / "keys" / "sekmet_private.pem"),
        "simulator": {"enabled": False},
        "log_inbound": False,
        "server_auth": {"types": ["none"]},
    }


def port_is_free(port: int) -> bool:
    """Nothing listens on the port. Connections of a server just stopped (TIME_WAIT) do not
    count: the server binds with SO_REUSEADDR, as this check does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


def base_url(port: int) -> str:
    return f"http://{HOST}:{port}/fhir"


def answers(base: str, timeout: float = 2.0) -> bool:
    """True when `base`/metadata answers 200 with a CapabilityStatement."""
    try:
        with requests.get(f"{base}/metadata", timeout=timeout) as response:
            return (
                response.status_code == 200
                and response.json().get("resourceType") == "CapabilityStatement"
            )
    except (requests.RequestException, ValueError, AttributeError):
        return False


@dataclass
class Server:
    base_url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


def start_server(
    executable: Path,
    *,
    state: Path,
    port: int,
    database: str,
    settings_path: Path,
    log_path: Path,
    ready_timeout: float = READY_TIMEOUT,
) -> Server:
    """Start sekmet on 127.0.0.1:`port` in the background and wait until it answers."""
    if not port_is_free(port):
        raise SandboxError(f"port {port} on {HOST} is in use; choose another one with --port")
    data_dir = state / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    settings_path.write_text(
        json.dumps(settings_document(port, database, data_dir), indent=2) + "\n"
    )  # JSON is YAML: sekmet reads it with yaml.safe_load
    env = {
        **os.environ,
        "SEKMET_CONFIG": str(settings_path),
        "SEKMET_DB": database,
        "SEKMET_PORT": str(port),
        "SEKMET_BASE_URL": base_url(port),
    }
    env.pop("SEKMET_PUBLIC_URL", None)
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [
                str(executable),
                "serve",
                "--config",
                str(settings_path),
                "--host",
                HOST,
                "--port",
                str(port),
            ],
            cwd=state,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(base_url=base_url(port), port=port, process=process, log=log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SandboxError(
                f"the sandbox server exited at start (code {process.returncode}): "
                f"{_last_line(log_path)}"
            )
        if answers(server.base_url, timeout=1.0):
            return server
        time.sleep(0.1)
    stop_process(process)
    raise SandboxError(f"the sandbox server did not answer within {ready_timeout:g} s")


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1][:300] if lines else "no output"


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


# -- the persistent sandbox (trd-fhir sandbox) -----------------------------------------------------
def _read_pid_file(paths: SandboxPaths) -> dict[str, Any] | None:
    try:
        data = json.loads(paths.pid_file.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def _is_ours(pid: int, paths: SandboxPaths) -> bool:
    """The process is alive and runs our sandbox's sekmet (never signal anything else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True  # no /proc: alive is the best we can tell
    return str(paths.venv) in cmdline and "serve" in cmdline


def running(paths: SandboxPaths) -> str | None:
    """The base URL of the sandbox started from `paths`, if it is up and answering."""
    info = _read_pid_file(paths)
    if not info or not _is_ours(info["pid"], paths):
        return None
    base = info.get("base_url")
    return base if isinstance(base, str) and answers(base) else None


def start_sandbox(
    paths: SandboxPaths, port: int = DEFAULT_PORT, log: IO[str] | None = None
) -> tuple[str, bool]:
    """(base URL, started now?) of the persistent sandbox; starts it when it is not up."""
    with file_lock(paths.state / "start.lock"):
        base = running(paths)
        if base:
            return base, False
        info = _read_pid_file(paths)
        if info and _is_ours(info["pid"], paths):  # alive but not answering: restart it
            _terminate(info["pid"])
        paths.pid_file.unlink(missing_ok=True)
        executable = ensure_installed(paths, log=log)
        paths.database.parent.mkdir(parents=True, exist_ok=True)
        server = start_server(
            executable,
            state=paths.state,
            port=port,
            database=str(paths.database),
            settings_path=paths.settings,
            log_path=paths.log,
        )
        paths.pid_file.write_text(
            json.dumps({"pid": server.process.pid, "port": port, "base_url": server.base_url})
        )
        # The server outlives this process on purpose (stopped by --stop through the pid file):
        # tell subprocess not to wait for it or warn about it when the Popen object goes away.
        server.process.returncode = 0
        return server.base_url, True


def _terminate(pid: int, timeout: float = 10.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def stop_sandbox(paths: SandboxPaths) -> bool:
    """Stop the persistent sandbox; False when it was not running."""
    info = _read_pid_file(paths)
    stopped = False
    if info and _is_ours(info["pid"], paths):
        _terminate(info["pid"])
        stopped = True
    paths.pid_file.unlink(missing_ok=True)
    return stopped


# -- examples ---------------------------------------------------------------------------------
def to_transaction(bundle: Any, label: str = "bundle") -> dict[str, Any]:
    """A Bundle of resources (collection, batch, searchset, transaction) -> a transaction of
    PUT Type/id. Resources without an id get one from their urn:uuid fullUrl; references to
    fullUrls become Type/id."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise InputError(f"{label} is not a Bundle")
    entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict)]
    resources: list[tuple[dict[str, Any], str | None]] = []
    mapping: dict[str, str] = {}
    for i, entry in enumerate(entries):
        resource = entry.get("resource")
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            continue
        full = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
        resource = dict(resource)
        if not isinstance(resource.get("id"), str):
            seed = full or f"{label}#{i}"
            resource["id"] = (
                seed[9:]
                if seed.startswith("urn:uuid:")
                else str(uuid.uuid5(uuid.NAMESPACE_URL, seed))
            )
        if full:
            mapping[full] = f"{resource['resourceType']}/{resource['id']}"
        resources.append((resource, full))
    out = []
    for resource, _full in resources:
        fixed = _rewrite_refs(resource, mapping)
        out.append(
            {
                "resource": fixed,
                "request": {"method": "PUT", "url": f"{fixed['resourceType']}/{fixed['id']}"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": out}


def _rewrite_refs(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            is_ref = key == "reference" and isinstance(item, str)
            out[key] = mapping.get(item, item) if is_ref else _rewrite_refs(item, mapping)
        return out
    if isinstance(value, list):
        return [_rewrite_refs(v, mapping) for v in value]
    return value


def bundle_patient_id(bundle: Any) -> str | None:
    """The id of the (first) Patient in an example Bundle."""
    for entry in bundle.get("entry") or [] if isinstance(bundle, dict) else []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "Patient":
            rid = resource.get("id")
            if isinstance(rid, str):
                return rid
            full = entry.get("fullUrl")
            if isinstance(full, str) and full.startswith("urn:uuid:"):
                return full[9:]  # the id to_transaction gives it
            ref = reference_target({"reference": full})
            return ref.split("/")[-1] if ref else None
    return None


@dataclass(frozen=True)
class Example:
    path: Path
    patient_id: str
    as_of: date
    bundle: dict[str, Any]


def example_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.json") if p.name != "index.json")


def _as_of_index(directory: Path) -> dict[str, str]:
    try:
        data = json.loads((directory / "index.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    items = data.get("examples") if isinstance(data, dict) else None
    out = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("file"), str):
            continue
        value = item.get("as_of") or item.get("as-of") or item.get("asOf")
        if isinstance(value, str):
            out[item["file"]] = value
    return out


def read_examples(directory: Path) -> list[Example]:
    """Every example Bundle with its patient and as-of date (examples/index.json, else the
    Bundle's timestamp or meta.lastUpdated, else today)."""
    index = _as_of_index(directory)
    out = []
    for path in example_files(directory):
        try:
            bundle = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read example {path.name}: {exc}") from None
        patient = bundle_patient_id(bundle)
        if patient is None:
            raise InputError(f"example {path.name} holds no Patient")
        stamp = (
            index.get(path.name)
            or bundle.get("timestamp")
            or (bundle.get("meta") or {}).get("lastUpdated")
        )
        try:
            as_of = date.fromisoformat(str(stamp)[:10]) if stamp else date.today()
        except ValueError:
            as_of = date.today()
        out.append(Example(path=path, patient_id=patient, as_of=as_of, bundle=bundle))
    return out


def load_examples(client: FhirClient, examples: list[Example]) -> int:
    """PUT every example into the server, one transaction per example; returns the number of
    resources loaded."""
    total = 0
    for example in examples:
        transaction = to_transaction(example.bundle, example.path.name)
        try:
            post_transaction(client, transaction)
        except TrdFhirError as exc:
            raise SandboxError(f"loading {example.path.name}: {exc.one_line()}") from None
        total += len(transaction["entry"])
    return total
