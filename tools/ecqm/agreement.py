"""Compare trd-fhir's readings with the eCQM test patients and value sets (docs/real-world.md).

    .venv/bin/python tools/ecqm/agreement.py CHECKOUT [CHECKOUT ...]

CHECKOUT is a checkout (or extracted tree) of cqframework/ecqm-content-qicore-2024 or -2025. Each
test patient is a folder of resources under input/tests/measure/<measure>/<patient>/ with a
MeasureReport holding the measure's expected populations. Nothing is copied anywhere; the figures
go to stdout.

CMS128 (antidepressant medication management): for each patient in the denominator and not
excluded, the index date (IPSD) is trd-fhir's earliest antidepressant exposure in the intake period
(May 1 of the prior year to April 30); the days covered by trd-fhir's antidepressant exposures read
from MedicationDispense (the only resource the measure counts) within
[IPSD, IPSD + 114] and [IPSD, IPSD + 231] must reach 84 and 180 exactly when the expected numerators
are 1.
CMS159 (depression remission at twelve months): for each patient in the denominator and not
excluded, the index is trd-fhir's first PHQ-9 total above 9 dated from 7 days before the
denominator identification period to its end; the last PHQ-9 total trd-fhir reads in
[index + 12 months - 60 days, index + 12 months + 60 days] must be below 5 exactly when the
expected numerator is 1.
Both also count the Condition codings of all test patients that trd-fhir recognises, by category.
Value sets: how many codes of each value set trd-fhir recognises by code alone (conditions by
category; RxNorm codes with no display or text, as the medication reader sees them).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from trdfhir import InputError, evaluate, load_mappings
from trdfhir.ingest.medications import _match_concept  # the reader's own code lookup

MEASURES = {
    "cms128": ("AntidepressantMedicationManagementFHIR", "CMS128FHIRAntidepressantMedManagement"),
    "cms159": (
        "DepressionRemissionatTwelveMonthsFHIR",
        "CMS159FHIRDepressionRemissionatTwelveMonths",
    ),
}


def patients(root: Path, names: tuple[str, ...]):
    for name in names:
        folder = root / "input" / "tests" / "measure" / name
        if not folder.is_dir():
            continue
        for p in sorted(x for x in folder.iterdir() if x.is_dir()):
            reports = sorted(p.glob("MeasureReport*.json"))
            if not reports:
                continue
            report = json.loads(reports[0].read_text())
            resources = [
                json.loads(f.read_text())
                for f in sorted(p.glob("*.json"))
                if not f.name.startswith("MeasureReport")
            ]
            yield p.name, report, resources


def populations(report: dict[str, Any]) -> list[dict[str, int]]:
    return [
        {x["code"]["coding"][0]["code"]: x.get("count", 0) for x in g["population"]}
        for g in report["group"]
    ]


def covered(exposures, lo: date, hi: date) -> int:
    days = set()
    for e in exposures:
        end = e.end or hi + timedelta(days=1)  # exposures are [start, end)
        d = max(e.start, lo)
        while d < end and d <= hi:
            days.add(d)
            d += timedelta(days=1)
    return len(days)


def cms128(root: Path, tally: Counter, conds: Counter) -> list[str]:
    out = []
    for pid, report, resources in patients(root, MEASURES["cms128"]):
        pops = populations(report)
        period_end = date.fromisoformat(report["period"]["end"])
        try:
            a = evaluate(resources, as_of=period_end.isoformat())
        except InputError as exc:
            tally["patients"] += 1
            tally["refused"] += 1
            out.append(f"  {pid}: refused by trd-fhir ({exc.message[:90]})")
            continue
        count_conditions(a.record, resources, conds)
        tally["patients"] += 1
        if pops[0].get("denominator") != 1 or pops[0].get("denominator-exclusion"):
            continue
        tally["comparable"] += 1
        year = period_end.year
        intake = (date(year - 1, 5, 1), date(year, 4, 30))
        ads = [
            e
            for e in a.record.exposures
            if e.role == "antidepressant" and not e.not_taken and e.source_type == "dispense"
        ]
        starts = sorted(e.start for e in ads if intake[0] <= e.start <= intake[1])
        if not starts:
            out.append(f"  {pid}: no antidepressant exposure read in the intake period")
            tally["disagree"] += 1
            continue
        ipsd = starts[0]
        d114 = covered(ads, ipsd, ipsd + timedelta(days=114))
        d231 = covered(ads, ipsd, ipsd + timedelta(days=231))
        got = (int(d114 >= 84), int(d231 >= 180))
        want = (pops[0].get("numerator", 0), pops[1].get("numerator", 0))
        if got == want:
            tally["agree"] += 1
        else:
            tally["disagree"] += 1
            out.append(f"  {pid}: IPSD {ipsd}, {d114}/{d231} days; numerators {got} vs {want}")
    return out


def cms159(root: Path, tally: Counter, conds: Counter) -> list[str]:
    out = []
    for pid, report, resources in patients(root, MEASURES["cms159"]):
        pops = populations(report)[0]
        mp_start = date.fromisoformat(report["period"]["start"])
        mp_end = date.fromisoformat(report["period"]["end"])
        try:
            a = evaluate(resources, as_of=(mp_end + timedelta(days=366)).isoformat())
        except InputError as exc:
            tally["patients"] += 1
            tally["refused"] += 1
            out.append(f"  {pid}: refused by trd-fhir ({exc.message[:90]})")
            continue
        count_conditions(a.record, resources, conds)
        tally["patients"] += 1
        if pops.get("denominator") != 1 or pops.get("denominator-exclusion"):
            continue
        tally["comparable"] += 1
        dip = (add_months(mp_start, -14) - timedelta(days=7), add_months(mp_start, -2))
        phq9 = sorted((s.day, s.value) for s in a.record.scores if s.scale == "PHQ-9")
        index = next((d for d, v in phq9 if v > 9 and dip[0] <= d < dip[1]), None)
        if index is None:
            out.append(f"  {pid}: no PHQ-9 above 9 read in the identification period")
            tally["disagree"] += 1
            continue
        anniversary = add_months(index, 12)
        window = [
            v
            for d, v in phq9
            if anniversary - timedelta(days=60) <= d <= anniversary + timedelta(days=60)
        ]
        got = int(bool(window) and window[-1] < 5)
        want = pops.get("numerator", 0)
        if got == want:
            tally["agree"] += 1
        else:
            tally["disagree"] += 1
            out.append(f"  {pid}: index {index}, window {window}; numerator {got} vs {want}")
    return out


def count_conditions(record, resources, conds: Counter) -> None:
    maps = load_mappings()
    for r in resources:
        if r.get("resourceType") != "Condition":
            continue
        for c in (r.get("code") or {}).get("coding") or []:
            rule = maps.classify_condition(c.get("system"), c.get("code"))
            conds[rule.category if rule else "not recognised"] += 1
            break


def add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise ValueError(d)


VALUE_SETS = {  # OID -> label
    "2.16.840.1.113883.3.464.1003.105.11.1017": "Major Depression (SNOMED CT)",
    "2.16.840.1.113883.3.464.1003.105.11.1019": "Major Depression (ICD-10-CM)",
    "2.16.840.113883.3.67.1.101.3.2444": "Major Depression Including Remission",
    "2.16.840.1.113883.3.464.1003.105.11.1060": "Major Depression In Remission (SNOMED CT)",
    "2.16.840.1.113883.3.67.1.101.1.44": "Bipolar Disorder (SNOMED CT)",
    "2.16.840.1.113883.3.67.1.101.1.45": "Bipolar Disorder (ICD-10-CM)",
    "2.16.840.1.113883.3.67.1.101.1.246": "Personality Disorder Emotionally Labile",
    "2.16.840.1.113883.3.67.1.101.1.254": "Dysthymia",
    "2.16.840.1.113883.3.464.1003.196.11.1530": "Antidepressant Medication (RxNorm)",
    "2.16.840.1.113883.3.600.470": "Adult Depression Medications (RxNorm)",
}


def value_sets(root: Path) -> None:
    maps = load_mappings()
    folder = root / "input" / "vocabulary" / "valueset"
    for oid, label in VALUE_SETS.items():
        files = sorted(folder.rglob(f"valueset-{oid}.json"))
        if not files:
            continue
        codes = json.loads(files[0].read_text())["expansion"]["contains"]
        hits: Counter = Counter()
        for c in codes:
            if c["system"].endswith("rxnorm"):
                found = _match_concept(
                    {"coding": [{"system": c["system"], "code": c["code"]}]}, maps
                )
                hits["recognised" if found else "not recognised"] += 1
                hits["with strength"] += bool(found and found[0].strength_mg)
            else:
                rule = maps.classify_condition(c["system"], c["code"])
                hits[rule.category if rule else "not recognised"] += 1
        say(f"  {label} {oid}: {len(codes)} codes, {dict(sorted(hits.items()))}")


def say(line: str) -> None:
    sys.stdout.write(line + "\n")


def main(argv: list[str]) -> int:
    for arg in argv[1:]:
        root = Path(arg)
        say(f"{root.name} value sets recognised by code alone:")
        value_sets(root)
        for name, fn in (("CMS128", cms128), ("CMS159", cms159)):
            tally: Counter = Counter()
            conds: Counter = Counter()
            notes = fn(root, tally, conds)
            say(
                f"{root.name} {name}: {tally['patients']} test patients, {tally['comparable']} "
                f"comparable, {tally['agree']} agree, {tally['disagree']} disagree, "
                f"{tally['refused']} refused as input"
            )
            say(f"  Condition codings by trd-fhir category: {dict(sorted(conds.items()))}")
            for line in notes:
                say(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
