"""Assessment -> a readable plain-text report for clinicians and integration engineers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .assessment import Assessment
from .model import AssessedTrial, Suggestion
from .reading import finish_report, reading_report, report_text
from .staging import registry
from .summary import trial_json

_SEVERITY_MARK = {"urgent": "!!", "warning": " !", "info": "  "}


def stage_label(name: str) -> str:
    """A model's label in the text report and the card's staging table (its declaration's)."""
    spec = registry().find(name)
    return spec.report_label if spec else name


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
    lines += ["", "Laboratory results (as recorded)", *_labs(a)]
    lines += ["", "Functional ratings (latest of each)", *_functional(a)]
    lines += ["", "Suggestions (for the clinician to consider; not orders)"]
    lines += [line for s in a.suggestions for line in _suggestion(s)] or ["   none"]
    lines += ["", *LEGEND]
    if a.record.warnings:
        lines += ["", "Data warnings"]
        lines += [f" - {w.location}: {w.code}: {w.diagnostic}" for w in a.record.warnings]
    lines += ["", *report_text(finish_report(reading_report(a)))]
    return "\n".join(lines) + "\n"


def _trial_table(a: Assessment) -> list[str]:
    if not a.trials:
        return ["   none on record"]
    header = (
        "id",
        "agent",
        "dates",
        "dose mg/d (min)",
        "weeks on (adequate)",
        "adequacy",
        "outcome",
        "baseline -> end score",
    )
    rows = [header]
    for t in a.trials:
        j = trial_json(t)
        if j["kind"] == "antidepressant":
            dose = f"{_n(j['max_daily_dose_mg'])} ({_n(j['adequate_dose_mg'])})"
        elif j["kind"] == "augmentation":
            dose = f"{_n(j['max_daily_dose_mg'])} (n/a)"
        else:
            dose = f"{j['sessions']} sessions"
        weeks = _weeks(t, j["weeks_at_adequate_dose"])
        adequacy = j["adequacy"] + (f": {', '.join(j['reasons'])}" if j["reasons"] else "")
        ongoing = " (ongoing)" if j["ongoing"] else ""
        ongoing += " (end assumed)" if j.get("assumptions") else ""
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
                _scores(j["baseline_score"], j["end_score"]),
            )
        )
    return _columns(rows)


def _weeks(t: AssessedTrial, at_adequate: float | None) -> str:
    """'8 (0, 8 unknown)': weeks on the treatment, then in brackets the weeks at or above the
    minimum adequate dose and the weeks whose dose is unknown (never counted as adequate)."""
    tr = t.trial
    on = f"{round((tr.end - tr.start).days / 7, 1):g}"
    if at_adequate is None:
        return f"{on} (-)"
    unknown = f", {round(tr.days_unknown_dose / 7, 1):g} unknown" if tr.days_unknown_dose else ""
    return f"{on} ({at_adequate:g}{unknown})"


def _scores(baseline: dict[str, Any] | None, end: dict[str, Any] | None) -> str:
    """'PHQ-9 19 (2024-02-08) -> 17 (2024-04-29)'; '-' for a missing side."""
    if baseline is None and end is None:
        return "-"
    scale = (baseline or end or {}).get("scale", "")

    def side(point: dict[str, Any] | None) -> str:
        return "-" if point is None else f"{_n(point['value'])} ({point['date']})"

    return f"{scale} {side(baseline)} -> {side(end)}"


LEGEND = (
    "Legend",
    " !! urgent finding;  ! warning; (no mark) information.",
    " Trials: dates first..last day; (ongoing) still taken at the as-of date; [earlier episode]"
    " before the current episode (not counted by the models). Dose: highest daily dose (the"
    " minimum adequate dose). Weeks on (adequate): weeks on the treatment, first to last day;"
    " in brackets the weeks at or above the minimum adequate dose, and the weeks of unknown"
    " dose, which are not counted as adequate ('-': no dose threshold applies: augmentation,"
    " ECT, psychotherapy). Outcome"
    " (evidence): measured from scores, documented in the record, or inferred from a switch.",
    " Baseline -> end score: the scale, value and date the outcome rests on.",
    " Upper bound: the model's result if every trial of unknown dose or duration were adequate;"
    " blank when it equals the result.",
    " Guidi & Fava: A-E met / not-met / not-assessable; 'refractoriness' only when all five are"
    " met.",
    " Laboratory values: as recorded (value and unit), with the converted value the rules use.",
)


def _labs(a: Assessment) -> list[str]:
    names = {"tsh": ("TSH", "mIU/L"), "vitamin-d": ("25-OH vitamin D", "ng/mL")}
    out = []
    for lab in a.record.labs:
        name, unit = names[lab.test]
        recorded = (
            f"{_n(lab.recorded_value)} {lab.recorded_unit or '(no unit)'}"
            if lab.recorded_value is not None
            else f"{_n(lab.value)} {unit}"
        )
        same = lab.recorded_value is None or (
            lab.recorded_value == lab.value and (lab.recorded_unit or "") in (unit, "")
        )
        converted = "" if same else f" = {_n(lab.value)} {unit}"
        out.append(f" - {name} {recorded}{converted} on {lab.day.isoformat()} ({lab.resource})")
    return out or ["   none on record"]


def _functional(a: Assessment) -> list[str]:
    rows = a.summary()["functional"]
    return [
        f" - {r['scale']} {_n(r['value'])} on {r['date']}"
        + (f" ({r['band']}, Mundt et al. 2002)" if r["band"] else " (no sourced band)")
        + f" ({r['resource']})"
        for r in rows
    ] or ["   none on record"]


def _suggestion(s: Suggestion) -> list[str]:
    out = [f" - {s.text} (because {s.reason}; {s.source})"]
    out += [f"     caution [{c.code}]: {c.text} ({c.source})" for c in s.cautions]
    if s.plan:
        out.append("     plan (each step only after the previous one succeeded; relative timing):")
        out += [
            f"       {p.step}. {p.text} - {p.timing}; only if {p.condition} [{p.source}]"
            for p in s.plan
        ]
    return out


def _stage_table(a: Assessment) -> list[str]:
    rows: list[tuple[str, ...]] = [("model", "result", "upper bound")]
    for name, result in a.stages.items():
        upper = a.upper_bound.get(name)
        shown = (
            "" if name not in a.upper_bound or upper == result.headline else f"up to {_fmt(upper)}"
        )
        spec = registry().find(name)
        value = spec.report_value(result.value) if spec else result.value
        rows.append((stage_label(name), _fmt(value), shown))
    table = _columns(rows)
    lines = table[:2]
    for line, result in zip(table[2:], a.stages.values(), strict=True):
        lines += [line, f"    {result.explanation}"]
    return lines


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        keys = [k for k in ("met", "stage", "category", "score") if k in value]
        if {"A", "B", "C", "D", "E"} <= set(value):
            marks = " ".join(f"{k}:{value[k]}" for k in "ABCDE")
            return marks + (f" ({value['label']})" if value.get("label") else "")
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
