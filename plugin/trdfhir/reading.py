"""The reading report: how much of a record trd-fhir could read (docs/real-world.md).

For a site's own export, before trusting stages: medication records with a daily dose, with a
duration, and the unknown ones by reason (the `reason` slug of the warnings `unknown-dose`,
`unknown-duration` and `assumed-end`); questionnaires read and not read; the most frequent codes
no mapping knows. Pure: `reading_report` builds it from one Assessment, `merge_reports` adds
reports up (bulk merges its patients' reports), `finish_report` sorts and cuts the code list.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from .model import Record

if TYPE_CHECKING:
    from .assessment import Assessment

READING_VERSION = "1"
TOP_CODES = 20  # unmapped codes listed in a finished report
_UNKNOWN = ("unknown-dose", "unknown-duration", "assumed-end")
_QUESTIONNAIRE = "QuestionnaireResponse/"


def reading_report(assessment: Assessment) -> dict[str, Any]:
    """One patient's reading report (unfinished: every unmapped code, unsorted)."""
    return record_report(assessment.record)


def record_report(record: Record) -> dict[str, Any]:
    meds: dict[str, set[str]] = {"all": set(), "dose": set(), "duration": set()}
    for e in record.exposures:
        meds["all"].add(e.resource)
        if e.daily_dose_mg is not None:
            meds["dose"].add(e.resource)
        if e.end is not None:
            meds["duration"].add(e.resource)
    by_reason: dict[str, Counter[str]] = {code: Counter() for code in _UNKNOWN}
    for w in record.warnings:
        if w.code in by_reason:
            by_reason[w.code][w.reason or "unspecified"] += 1
    read = {r for s in record.scores for r in s.resources if r.startswith(_QUESTIONNAIRE)}
    read |= {r for p in record.item9 for r in p.resources if r.startswith(_QUESTIONNAIRE)}
    unread = {
        w.location.split(".", 1)[0]
        for w in record.warnings
        if w.code in ("questionnaire-unread", "item9-unread")
    }
    codes: Counter[str] = Counter()
    displays: dict[str, str] = {}
    for u in record.unmapped:
        key = f"{u.system or ''}|{u.code}" if u.code else "(text only)"
        codes[key] += 1
        if u.code and u.display and key not in displays:  # free text stays out of the report
            displays[key] = u.display
    return {
        "reading": READING_VERSION,
        "patients": 1,
        "medications": {
            "records": len(meds["all"]),
            "with_dose": len(meds["dose"]),
            "with_duration": len(meds["duration"]),
            "unknown_dose": dict(by_reason["unknown-dose"]),
            "unknown_duration": dict(by_reason["unknown-duration"]),
            "assumed_end": dict(by_reason["assumed-end"]),
        },
        "questionnaires": {"read": len(read), "not_read": len(unread - read)},
        "unmapped_codes": [
            {"code": key, "display": displays.get(key), "count": n} for key, n in codes.items()
        ],
        "warnings": dict(Counter(w.code for w in record.warnings)),
    }


def empty_report() -> dict[str, Any]:
    report = record_report(Record(patient=""))
    report["patients"] = 0
    return report


def merge_reports(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The sum of two reports (unfinished)."""
    meds = {
        key: (
            a["medications"][key] + b["medications"][key]
            if isinstance(a["medications"][key], int)
            else dict(Counter(a["medications"][key]) + Counter(b["medications"][key]))
        )
        for key in a["medications"]
    }
    codes: dict[str, dict[str, Any]] = {}
    for row in [*a["unmapped_codes"], *b["unmapped_codes"]]:
        got = codes.setdefault(row["code"], {"code": row["code"], "display": None, "count": 0})
        got["count"] += row["count"]
        got["display"] = got["display"] or row["display"]
    return {
        "reading": READING_VERSION,
        "patients": a["patients"] + b["patients"],
        "medications": meds,
        "questionnaires": {
            k: a["questionnaires"][k] + b["questionnaires"][k] for k in a["questionnaires"]
        },
        "unmapped_codes": list(codes.values()),
        "warnings": dict(Counter(a["warnings"]) + Counter(b["warnings"])),
    }


def finish_report(report: dict[str, Any], top: int = TOP_CODES) -> dict[str, Any]:
    """The report as written: counts by reason sorted by key, the `top` most frequent unmapped
    codes (most frequent first, then by code), and how many other codes were left off."""
    rows = sorted(report["unmapped_codes"], key=lambda r: (-r["count"], r["code"]))
    meds = {
        k: dict(sorted(v.items())) if isinstance(v, dict) else v
        for k, v in report["medications"].items()
    }
    return {
        **report,
        "medications": meds,
        "unmapped_codes": rows[:top],
        "unmapped_codes_left_off": max(len(rows) - top, 0),
        "warnings": dict(sorted(report["warnings"].items())),
    }


def report_text(report: dict[str, Any]) -> list[str]:
    """The finished report as lines of text (evaluate --format text)."""
    m, q = report["medications"], report["questionnaires"]
    lines = [
        "Reading report",
        f"  medication records: {m['records']}; with a daily dose {m['with_dose']}, "
        f"with a duration {m['with_duration']}",
    ]
    for key, label in (
        ("unknown_dose", "dose unknown"),
        ("unknown_duration", "duration unknown"),
        ("assumed_end", "end assumed"),
    ):
        if m[key]:
            reasons = ", ".join(f"{reason} {n}" for reason, n in m[key].items())
            lines.append(f"  {label}: {reasons}")
    lines.append(f"  questionnaires: read {q['read']}, not read {q['not_read']}")
    for row in report["unmapped_codes"]:
        display = f" ({row['display']})" if row["display"] else ""
        lines.append(f"  unmapped code {row['code']}{display}: {row['count']}")
    return lines
