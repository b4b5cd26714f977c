"""`make demo`: the whole round trip against a real FHIR server, on this machine.

1. installs (once) and starts the sandbox FHIR server (sekmet-fhir on 127.0.0.1, `trd-fhir
   sandbox`), or reuses it when it is already up;
2. loads every example patient (examples/*.json, as PUT by id: loading twice changes nothing);
3. syncs every patient: reads the record from the server, evaluates it at the example's as-of
   date and writes the assessment back (Observations, draft CarePlan, Provenance);
4. prints a table (stage per model, urgent findings, resources written) and how to look at
   what was written.

Re-running writes nothing new. The server keeps running (stop it with `trd-fhir sandbox --stop`).
"""

# ruff: noqa: T201  (a script: it prints)
from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trdfhir.client import FhirClient
from trdfhir.commands.sync import SyncResult, sync_patient
from trdfhir.devtools.smart_demo import start_smart_demo
from trdfhir.errors import TrdFhirError
from trdfhir.mappings import load_mappings
from trdfhir.sandbox import DEFAULT_PORT, default_paths, load_examples, read_examples, start_sandbox

ROOT = Path(__file__).resolve().parents[1]
STAGE_PROFILE = "http://trd-fhir.org/fhir/StructureDefinition/trd-stage-observation"


def _regulatory(v: dict[str, Any]) -> str:
    if v.get("excluded_by"):
        return "excluded"
    return "met" if v.get("met") else "no"


def _guidi_fava(v: dict[str, Any]) -> str:
    met = "".join(k for k in "ABCDE" if v.get(k) == "met")
    return f"{met or '-'} met"


def _maudsley(v: dict[str, Any]) -> str:
    if v.get("score") is None:
        return str(v.get("category") or "n/a")
    return f"{_number(v['score'])} {v.get('category') or ''}"


def _number(v: Any) -> str:
    if v is None:
        return "n/a"
    return f"{v:g}" if isinstance(v, float) else str(v)


COLUMNS: list[tuple[str, Any]] = [
    ("Regulatory", lambda s: _regulatory(s["regulatory"])),
    ("Thase-Rush", lambda s: s["thase_rush"].get("roman") or _number(s["thase_rush"]["stage"])),
    ("ESM", lambda s: s["esm"]["category"]),
    ("MGH-S", lambda s: _number(s["mgh"]["score"])),
    ("Maudsley", lambda s: _maudsley(s["maudsley"])),
    ("DM-TRD", lambda s: _number(s["dm_trd"]["score"])),
    ("Conway", lambda s: _number(s["conway"]["stage"])),
    (
        "Markowitz",
        lambda s: "strict" if s["markowitz"].get("strict_met") else _regulatory(s["markowitz"]),
    ),
    ("Guidi&Fava", lambda s: _guidi_fava(s["guidi_fava"])),
    ("Spectrum", lambda s: s["spectrum"]),
]


def row(result: SyncResult, as_of: str) -> list[str]:
    if result.assessment is None:
        return [result.patient_id, as_of, *["-"] * len(COLUMNS), "-", "FAILED"]
    summary = result.assessment.summary()
    stages = summary["stages"]
    cells = []
    for _, cell in COLUMNS:
        try:
            cells.append(str(cell(stages)).strip())
        except (KeyError, TypeError, AttributeError):
            cells.append("?")
    urgent = [f["code"] for f in summary["findings"] if f["severity"] == "urgent"]
    if result.outcome is None:
        written = "FAILED" if result.error else "-"
    elif result.outcome.mode == "skipped":
        written = "0 (up to date)"
    else:
        written = str(result.outcome.written)
    return [result.patient_id, as_of, *cells, ", ".join(urgent) or "-", written]


def table(rows: list[list[str]]) -> str:
    header = ["Patient", "As of", *(name for name, _ in COLUMNS), "Urgent", "Written"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the sandbox round trip (make demo)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port of the sandbox FHIR server on 127.0.0.1 (default {DEFAULT_PORT}; "
        "make demo PORT=...)",
    )
    args = parser.parse_args(argv)
    paths = default_paths(ROOT)
    base, started = start_sandbox(paths, port=args.port, log=sys.stderr)
    print(f"Sandbox FHIR server {'started' if started else 'already running'}: {base}")
    examples = read_examples(ROOT / "examples")
    maps = load_mappings()
    now = datetime.now(UTC)
    results: list[tuple[SyncResult, str]] = []
    with FhirClient(base) as client:
        count = load_examples(client, examples)
        print(f"Loaded {len(examples)} example patients ({count} resources)")
        print("Syncing every patient with write-back (read -> evaluate -> write) ...")
        for example in examples:
            try:
                result = sync_patient(
                    client,
                    example.patient_id,
                    as_of=example.as_of,
                    settings=maps.settings,
                    mappings=maps,
                    write=True,
                    now=now,
                )
            except TrdFhirError as exc:
                result = SyncResult(patient_id=example.patient_id, error=exc)
                print(f"  {example.patient_id}: FAILED: {exc.one_line()}", file=sys.stderr)
            results.append((result, example.as_of.isoformat()))
        first = examples[0].patient_id if examples else "vignette-01"
        plans = client.search("CarePlan", {"patient": first, "status": "draft"})
        careplan = f"CarePlan/{plans[0]['id']}" if plans else "CarePlan/<id>"
    print()
    print(table([row(r, as_of) for r, as_of in results]))
    written = sum(r.written for r, _ in results)
    failed = [r.patient_id for r, _ in results if r.error is not None]
    print()
    print(
        f"{len(results)} patients synced, {written} resources written"
        + (" (everything was already on the server)" if written == 0 and not failed else "")
        + (f", {len(failed)} FAILED: {', '.join(failed)}" if failed else "")
    )
    as_of = examples[0].as_of.isoformat() if examples else "2026-09-01"
    print(
        f"""
Look at what was written (here for {first}; any patient id works; add &_pretty=true to indent):
  stage Observations  curl -s '{base}/Observation?patient={first}&_profile={STAGE_PROFILE}'
  draft CarePlan      curl -s '{base}/CarePlan?patient={first}&status=draft'
  its Provenance      curl -s '{base}/Provenance?target={careplan}'
  one report          .venv/bin/trd-fhir sync --fhir-base {base} --patient {first} --as-of {as_of}
  web console         {base.removesuffix("/fhir")}/ui
The server keeps running; stop it with: .venv/bin/trd-fhir sandbox --stop"""
    )
    try:
        smart, _ = start_smart_demo(base, paths.state, examples=ROOT / "examples")
        print(
            f"""
SMART app against the sandbox (open in a browser on this machine; any example patient):
  EHR launch, patient list  {smart.ehr_page}
  standalone launch         {smart.standalone}
It keeps running too; stop it with: .venv/bin/python -m trdfhir.devtools.smart_demo stop"""
        )
    except TrdFhirError as exc:
        print(f"SMART app: not started: {exc.one_line()}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TrdFhirError as exc:
        print(f"demo: error: {exc.one_line()}", file=sys.stderr)
        sys.exit(exc.exit_code)
