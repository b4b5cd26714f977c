"""Assessment -> a readable plain-text report for clinicians and integration engineers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .assessment import Assessment
from .reading import finish_report, reading_report, report_text
from .summary import trial_json

_SEVERITY_MARK = {"urgent": "!!", "warning": " !", "info": "  "}
_STAGE_LABELS = {
    "regulatory": "Regulatory (FDA/EMA)",
    "thase_rush": "Thase & Rush 1997",
    "esm": "European Staging (Souery 1999)",
    "mgh": "MGH-S (Fava 2003)",
    "maudsley": "Maudsley (Fekadu 2009)",
    "dm_trd": "DM-TRD (Peeters 2016)",
    "conway": "Conway et al. 2017",
    "markowitz": "Markowitz et al. 2022",
    "guidi_fava": "Guidi & Fava 2024 (A-E)",
    "spectrum": "Response spectrum",
}


def render_text(a: Assessment) -> str:
    lines: list[str] = []
    ep = a.episode
    lines.append(f"trd-fhir assessment of {a.patient} as of {a.as_of.isoformat()}")
    if ep.start:
        lines.append(
            f"Current episode: since {ep.start.isoformat()} ({ep.months} months; {ep.source})"
        )
    else:
        lines.append("Current episode: unknown (no MDD diagnosis and no antidepressant on record)")
    if a.deceased:
        died = a.record.death.isoformat() if a.record.death else "date unknown"
        lines.append(f"Deceased ({died}): nothing is suggested and nothing is written back")
    urgent = [f for f in a.findings if f.severity == "urgent"]
    for f in urgent:
        lines.append(f"!! URGENT {f.code}: {f.detail}")
    lines += ["", "Treatment trials", *_trial_table(a)]
    lines += ["", "Staging (every model, side by side)", *_stage_table(a)]
    lines += ["", "Findings"]
    lines += [
        f"{_SEVERITY_MARK[f.severity]} {f.code}: {f.detail}  [{f.source}]" for f in a.findings
    ] or ["   none"]
    lines += ["", "Suggestions (for the clinician to consider; not orders)"]
    lines += [f" - {s.text} (because {s.reason}; {s.source})" for s in a.suggestions] or ["   none"]
    if a.record.warnings:
        lines += ["", "Data warnings"]
        lines += [f" - {w.location}: {w.code}: {w.diagnostic}" for w in a.record.warnings]
    lines += ["", *report_text(finish_report(reading_report(a)))]
    return "\n".join(lines) + "\n"


def _trial_table(a: Assessment) -> list[str]:
    if not a.trials:
        return ["   none on record"]
    header = ("id", "agent", "dates", "dose mg/d (min)", "weeks", "adequacy", "outcome")
    rows = [header]
    for t in a.trials:
        j = trial_json(t)
        if j["kind"] == "antidepressant":
            dose = f"{_n(j['max_daily_dose_mg'])} ({_n(j['adequate_dose_mg'])})"
        elif j["kind"] == "augmentation":
            dose = f"{_n(j['max_daily_dose_mg'])} (n/a)"
        else:
            dose = f"{j['sessions']} sessions"
        weeks = "-" if j["weeks_at_adequate_dose"] is None else f"{j['weeks_at_adequate_dose']:g}"
        adequacy = j["adequacy"] + (f": {', '.join(j['reasons'])}" if j["reasons"] else "")
        ongoing = " (ongoing)" if j["ongoing"] else ""
        earlier = " [earlier episode]" if j["episode"] == "earlier" else ""
        rows.append(
            (
                j["id"],
                f"{j['agent']}{earlier}",
                f"{j['start']}..{j['end']}{ongoing}",
                dose,
                weeks,
                adequacy,
                f"{j['outcome']} ({j['evidence']})",
            )
        )
    return _columns(rows)


def _stage_table(a: Assessment) -> list[str]:
    rows: list[tuple[str, ...]] = [("model", "result", "upper bound")]
    for name, result in a.stages.items():
        upper = a.upper_bound.get(name)
        shown = (
            "" if name not in a.upper_bound or upper == result.headline else f"up to {_fmt(upper)}"
        )
        value = result.value
        if name == "thase_rush" and isinstance(value, dict) and "roman" in value:
            value = {"stage": value["roman"]}
        rows.append((_STAGE_LABELS.get(name, name), _fmt(value), shown))
    table = _columns(rows)
    lines = table[:2]
    for line, result in zip(table[2:], a.stages.values(), strict=True):
        lines += [line, f"    {result.explanation}"]
    return lines


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        keys = [k for k in ("met", "stage", "category", "score") if k in value]
        if {"A", "B", "C", "D", "E"} <= set(value):
            return " ".join(f"{k}:{value[k]}" for k in "ABCDE")
        return ", ".join(f"{k} {_fmt(value[k])}" for k in keys)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "n/a"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _n(value: Any) -> str:
    return "?" if value is None else f"{value:g}"


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    out = []
    for k, row in enumerate(rows):
        out.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return out
