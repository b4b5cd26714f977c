"""Build mappings/valuesets.json from the VSAC expansions shipped in the public eCQM content.

    python tools/valuesets/build.py CHECKOUT_2025 [CHECKOUT_2024 ...] > mappings/valuesets.json

Each argument is a checkout (or extracted tree) of cqframework/ecqm-content-qicore-2025 / -2024;
the value sets are read from its input/vocabulary/valueset/ tree. The code lists are facts and are
taken in with their source (value set canonical URL and version). What each code MEANS is decided
here, by the project's own categories and the rules below, never by value-set membership alone: a
code of MDD "in remission" is `mdd-remission` even when a "Major Depression" value set lists it; a
bipolar code listed in an MDD value set is `bipolar`; a code with no project category is listed
under `skipped` with the reason. Review the output (git diff) before committing: every decision is
a row you can read.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

VSAC = "http://cts.nlm.nih.gov/fhir/ValueSet/"
SNOMED = "http://snomed.info/sct"
ICD10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

# (OID, measures that use it, kind). Groupings are listed with their leaves: a row cites both.
CONDITION_SETS = (
    ("2.16.840.1.113883.3.464.1003.105.12.1007", "CMS128", "mdd"),  # Major Depression (grouping)
    ("2.16.840.1.113883.3.464.1003.105.11.1017", "CMS128", "mdd"),  # Major Depression, SNOMED CT
    ("2.16.840.1.113883.3.464.1003.105.11.1019", "CMS128", "mdd"),  # Major Depression, ICD-10-CM
    ("2.16.840.113883.3.67.1.101.3.2444", "CMS159", "mdd"),  # Major Depression Including Remission
    (
        "2.16.840.1.113883.3.464.1003.105.11.1060",
        "none (2025 vocabulary)",
        "mdd",
    ),  # Major Depression In Remission, SNOMED
    (
        "2.16.840.1.113883.3.464.1003.105.11.1062",
        "none (2025 vocabulary)",
        "mdd",
    ),  # Major Depression In Remission, ICD
    ("2.16.840.1.113883.3.526.3.1491", "none (2024 vocabulary)", "mdd"),  # MDD Active
    (
        "2.16.840.1.113883.3.67.1.101.1.128",
        "CMS2, CMS159",
        "bipolar",
    ),  # Bipolar Disorder (grouping)
    ("2.16.840.1.113883.3.67.1.101.1.44", "CMS2, CMS159", "bipolar"),  # Bipolar Disorder, SNOMED CT
    ("2.16.840.1.113883.3.67.1.101.1.45", "CMS2, CMS159", "bipolar"),  # Bipolar Disorder, ICD-10-CM
    ("2.16.840.1.113883.3.67.1.101.1.246", "CMS159", "personality"),  # PD Emotionally Labile
    ("2.16.840.1.113883.3.67.1.101.1.248", "CMS159", "personality"),
    ("2.16.840.1.113883.3.67.1.101.1.249", "CMS159", "personality"),
    ("2.16.840.1.113883.3.67.1.101.1.254", "CMS159", "dysthymia"),  # Dysthymia (grouping)
    ("2.16.840.1.113883.3.67.1.101.1.256", "CMS159", "dysthymia"),
    ("2.16.840.1.113883.3.67.1.101.1.257", "CMS159", "dysthymia"),
)
MEDICATION_SETS = (
    ("2.16.840.1.113883.3.464.1003.196.12.1213", "CMS128"),  # Antidepressant Medication (grouping)
    ("2.16.840.1.113883.3.464.1003.196.11.1530", "CMS128"),  # Antidepressant Medication, RxNorm
    ("2.16.840.1.113883.3.526.3.1566", "CMS2"),  # Adult Depression Medications (grouping)
    ("2.16.840.1.113883.3.600.470", "CMS2"),  # Adult Depression Medications, RxNorm
)

# Codes whose meaning the display words do not settle: decided here, with the reason.
CONDITION_DECISIONS: dict[tuple[str, str], tuple[str | None, str]] = {
    (SNOMED, "191765005"): (
        "borderline",
        "emotionally unstable personality disorder is the ICD-10 name of F60.3 (borderline)",
    ),
    (SNOMED, "20010003"): ("borderline", ""),
    (ICD10_CM, "F60.3"): ("borderline", ""),
    (SNOMED, "55341008"): ("personality-disorder", "histrionic personality disorder"),
    (ICD10_CM, "F60.4"): ("personality-disorder", "histrionic personality disorder"),
    (SNOMED, "76105009"): (
        None,
        "cyclothymia: no project category (bipolar-spectrum in DSM-5; not added to the bipolar "
        "category without a clinical decision)",
    ),
    (ICD10_CM, "F34.0"): (
        None,
        "cyclothymia: no project category (bipolar-spectrum in DSM-5; not added to the bipolar "
        "category without a clinical decision)",
    ),
}
FACTITIOUS = "factitious disorder: not a personality disorder; no project category"

SEVERITY = (  # display words -> Maudsley severity level (Fekadu 2009: 2 mild, 3 moderate, 4 severe)
    ("moderately severe", None),
    ("minimal", None),
    ("severe", 4),
    ("moderate", 3),
    ("mild", 2),
)

_PREFIX = r"(?:(?:\d+ HR|PMDD|Sprinkle|Smoking Cessation)\s+)*"
_SCD = re.compile(
    rf"^{_PREFIX}(?P<name>[a-z][a-z0-9 -]*?) (?P<num>\d+(?:\.\d+)?) MG(?:/(?P<per>ML|HR))? "
    r"(?P<form>[A-Za-z ]+)$"
)
_PACK = re.compile(r"^\{.*\} Pack$")
_SALTS = {
    "hydrochloride",
    "hydrobromide",
    "maleate",
    "mesylate",
    "oxalate",
    "pamoate",
    "succinate",
    "sulfate",
    "fumarate",
    "citrate",
    "carbonate",
}


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        sys.stderr.write(__doc__ or "")
        return 2
    repos = [Path(a) for a in argv[1:]]
    mappings = Path(__file__).resolve().parents[2] / "mappings"
    names = _medication_names(mappings)
    found = _read_value_sets(repos)
    doc = build(found, names)
    sys.stdout.write(dumps(doc))
    return 0


def dumps(doc: dict[str, Any]) -> str:
    """JSON with one row per line: compact, and a changed code is a one-line diff."""
    lines = ["{"]
    items = list(doc.items())
    for i, (key, value) in enumerate(items):
        end = "," if i < len(items) - 1 else ""
        if isinstance(value, list):
            rows = [f"    {json.dumps(r, ensure_ascii=False)}" for r in value]
            body = ",\n".join(rows)
            lines.append(f'  "{key}": [\n{body}\n  ]{end}')
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{end}")
    return "\n".join(lines) + "\n}\n"


def _medication_names(mappings: Path) -> dict[str, str]:
    names = {}
    for file in ("antidepressants", "augmenters", "inducers"):
        for row in json.loads((mappings / f"{file}.json").read_text())["rows"]:
            for name in (row["ingredient"], *row["names"]):
                names[name.lower()] = row["ingredient"]
    return names


def _read_value_sets(repos: list[Path]) -> dict[str, dict[str, Any]]:
    """OID -> {url, version, title, measures, seen_in, codes: {(system, code): display}}."""
    wanted = {oid: m for oid, m, _ in CONDITION_SETS} | dict(MEDICATION_SETS)
    out: dict[str, dict[str, Any]] = {}
    for repo in repos:
        name = _repo_name(repo)
        for path in sorted((repo / "input" / "vocabulary" / "valueset").rglob("valueset-*.json")):
            oid = path.name[len("valueset-") : -len(".json")]
            if oid not in wanted:
                continue
            vs = json.loads(path.read_text(encoding="utf-8"))
            entry = out.setdefault(
                oid,
                {
                    "url": vs["url"],
                    "version": vs["version"],
                    "title": vs["title"],
                    "measures": wanted[oid],
                    "seen_in": [],
                    "codes": {},
                },
            )
            if vs["version"] != entry["version"]:
                raise SystemExit(f"{oid}: versions {entry['version']} and {vs['version']} differ")
            entry["seen_in"].append(f"{name} {path.relative_to(repo)}")
            for c in vs["expansion"]["contains"]:
                entry["codes"].setdefault((c["system"], c["code"]), c.get("display", ""))
    missing = sorted(set(wanted) - set(out))
    if missing:
        raise SystemExit(f"value sets not found: {', '.join(missing)}")
    return out


def _repo_name(repo: Path) -> str:
    for part in reversed(repo.resolve().parts):
        if "ecqm-content" in part:
            return "cqframework/" + part.split("+")[-1]
    return "cqframework/ecqm-content-qicore-" + repo.name


def build(found: dict[str, dict[str, Any]], names: dict[str, str]) -> dict[str, Any]:
    kinds = {oid: kind for oid, _, kind in CONDITION_SETS}
    members: dict[tuple[str, str], list[str]] = {}
    displays: dict[tuple[str, str], str] = {}
    for oid, vs in found.items():
        for key, display in vs["codes"].items():
            members.setdefault(key, []).append(oid)
            displays.setdefault(key, display)
    conditions, medications, skipped = [], [], []
    for key in sorted(members, key=lambda k: (k[0], k[1])):
        oids = members[key]
        cite = {
            "valuesets": [f"{found[o]['url']}|{found[o]['version']}" for o in oids],
            "source": "VSAC expansion in "
            + ", ".join(sorted({s.split(" ")[0] for o in oids for s in found[o]["seen_in"]})),
            "confidence": "verified",
        }
        system, code = key
        display = displays[key]
        if system == RXNORM:
            row, reason = _medication(code, display, names)
        else:
            row, reason = _condition(system, code, display, {kinds[o] for o in oids})
        if row is None:
            skipped.append({"system": system, "code": code, "display": display, "reason": reason})
            skipped[-1] |= cite
            continue
        row = {"system": system, "code": code, "display": display, **row, **cite}
        if reason:
            row["notes"] = reason
        (medications if system == RXNORM else conditions).append(row)
    return {
        "description": (
            "Codes of the official eCQM value sets (VSAC expansions in the public QI-Core measure "
            "content), each with the project's category. Merged into the hand-made tables on load; "
            "a code the hand-made tables already recognise keeps its hand-made meaning. Built by "
            "tools/valuesets/build.py."
        ),
        "version": "1",
        "valuesets": [
            {
                "oid": oid,
                "url": vs["url"],
                "version": vs["version"],
                "title": vs["title"],
                "measures": vs["measures"],
                "codes": len(vs["codes"]),
                "source": "; ".join(vs["seen_in"]),
                "confidence": "verified",
            }
            for oid, vs in sorted(found.items())
        ],
        "conditions": conditions,
        "medications": medications,
        "skipped": skipped,
    }


def _condition(
    system: str, code: str, display: str, kinds: set[str]
) -> tuple[dict[str, Any] | None, str]:
    text = display.lower()
    decided = CONDITION_DECISIONS.get((system, code))
    if decided is not None:
        category, why = decided
        if category is None:
            return None, why
        return {"category": category, "maudsley_severity": None, "psychotic": False}, why
    if "factitious" in text or "munchausen" in text:
        return None, FACTITIOUS
    if kinds == {"dysthymia"}:
        return {"category": "dysthymia", "maudsley_severity": None, "psychotic": False}, ""
    if "bipolar" in text or kinds & {"bipolar"}:
        return {"category": "bipolar", "maudsley_severity": None, "psychotic": False}, ""
    if kinds != {"mdd"}:
        return None, f"no rule for a code of {sorted(kinds)} value sets"
    if "remission" in text:
        return {"category": "mdd-remission", "maudsley_severity": None, "psychotic": False}, ""
    psychotic = ("psychotic" in text or "psychosis" in text) and "without psychotic" not in text
    severity, note = None, ""
    if psychotic:
        severity = 5
    else:
        for words, level in SEVERITY:
            if words in text:
                severity = level
                if level is None:
                    note = f"'{words}' has no Maudsley severity level; severity is left to scores"
                elif level == 4 and "without psychotic" not in text:
                    note = "severe, psychosis not stated: level 4 (severe without psychosis)"
                break
    return {"category": "mdd", "maudsley_severity": severity, "psychotic": psychotic}, note


def _medication(
    code: str, display: str, names: dict[str, str]
) -> tuple[dict[str, Any] | None, str]:
    if " / " in display and not _PACK.match(display):
        return None, (
            "combination product: one code cannot name two ingredients here; the name fallback "
            "reads each ingredient from the display"
        )
    if _PACK.match(display):
        inner = {_ingredient(m.group("name"), names) for m in _scd_parts(display)}
        if len(inner) == 1 and None not in inner:
            return {"ingredient": inner.pop(), "strength_mg": None, "unit": None}, (
                "pack of several strengths: the ingredient is certain, the strength of a dose "
                "is not"
            )
        return None, "pack whose ingredient is not in the project's medication files"
    m = _SCD.match(display)
    if m is None:
        return None, "display not in the RxNorm clinical drug form this tool reads"
    ingredient = _ingredient(m.group("name"), names)
    if ingredient is None:
        return None, f"'{m.group('name')}' is not in the project's medication files"
    form, per, num = m.group("form"), m.group("per"), float(m.group("num"))
    if ingredient == "selegiline" and per is None:
        return {"ingredient": ingredient, "strength_mg": None, "unit": None}, (
            "oral selegiline (MAO-B doses): its mg are not comparable with the transdermal "
            "mg/24 h thresholds, so no strength is given"
        )
    unit, strength = None, None
    if per is None and form.endswith("Tablet"):
        unit, strength = "tablet", num
    elif per is None and form.endswith("Capsule"):
        unit, strength = "capsule", num
    elif per == "ML" and form.endswith(("Solution", "Suspension")):
        unit, strength = "ml", num
    elif per == "HR" and form == "Transdermal System" and display.startswith("24 HR"):
        unit, strength = "patch", round(num * 24, 3)
    if unit is None:
        return {"ingredient": ingredient, "strength_mg": None, "unit": None}, (
            f"dose form '{form}' has no unit of the products table"
        )
    row = {"ingredient": ingredient, "strength_mg": strength, "unit": unit}
    note = ""
    if unit == "ml":
        note = "strength per mL"
    if unit == "patch":
        note = "strength_mg = mg delivered per 24 h; one patch a day"
    if "hydrobromide" in m.group("name") and ingredient == "bupropion":
        note = (
            "hydrobromide salt: 174/348/522 mg are equivalent to about 150/300/450 mg hydrochloride"
        )
    return row, note


def _ingredient(name: str, names: dict[str, str]) -> str | None:
    """The project's ingredient for an RxNorm name; a salt name falls back to its base."""
    if name in names:
        return names[name]
    base, _, salt = name.rpartition(" ")
    return names.get(base) if salt in _SALTS else None


def _scd_parts(display: str) -> list[re.Match[str]]:
    parts = re.findall(r"\(([^()]*)\)", display)
    return [m for m in (_SCD.match(p) for p in parts) if m is not None]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
