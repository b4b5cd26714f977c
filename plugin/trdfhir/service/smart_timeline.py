"""The SMART app's timeline of the current episode, as inline SVG (no script, no style attributes).

One row per treatment: an antidepressant trial is a bar made of its dose steps (bar height in
proportion to the dose, the dose written above), filled by adequacy with a pattern *and* named in
words beside it, so the chart reads without colour; an augmentation is a thin bar under its
antidepressant; psychotherapy, ECT, rTMS and esketamine courses are bars with one tick per
session. Under the bars, the rating-scale scores as a line, with dashed lines at the remission
cut-off and at 50 % of the episode's baseline score. A month axis runs along the bottom.

Pure: from the Assessment, its summary, the mappings' scale table and the clinical settings.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ..assessment import Assessment
from ..mappings import Mappings, Scale
from ..model import AssessedTrial, Score

WIDTH = 1000
LABEL_X = 12
PLOT_X0 = 232
PLOT_X1 = 972
LEGEND_H = 34
ROW_MAIN = 48
ROW_AUG = 40
ROW_COURSE = 48
PANEL_H = 150
AXIS_H = 34
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PROCEDURES = ("psychotherapy", "ect", "rtms", "esketamine", "ketamine")
KIND_LABEL = {
    "antidepressant": "antidepressant",
    "augmentation": "augmentation",
    "psychotherapy": "psychotherapy",
    "ect": "ECT course",
    "rtms": "rTMS course",
    "esketamine": "esketamine course",
    "ketamine": "IV ketamine course",
}
MODALITY = {
    "cbt": "CBT",
    "ipt": "IPT",
    "dbt": "DBT",
    "ba": "Behavioural activation",
    "mbct": "MBCT",
    "cbasp": "CBASP",
    "psychodynamic": "Psychodynamic therapy",
    "family": "Family therapy",
    "group": "Group therapy",
}
ADEQUACY_FILL = {
    "adequate": "url(#pat-adequate)",
    "inadequate": "url(#pat-inadequate)",
    "indeterminate": "url(#pat-indeterminate)",
}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt_day(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def num(value: float | int | None) -> str:
    if value is None:
        return "?"
    return f"{value:g}"


@dataclass
class Row:
    kind: str  # main, augmentation, course
    trial: AssessedTrial
    summary: dict[str, Any]
    sessions: list[date] = field(default_factory=list)

    @property
    def height(self) -> int:
        return {"main": ROW_MAIN, "augmentation": ROW_AUG, "course": ROW_COURSE}[self.kind]


@dataclass(frozen=True)
class ScoreSeries:
    """The score series drawn under the bars."""

    name: str
    points: tuple[Score, ...]
    low: float
    high: float
    remission_max: float | None
    baseline: float | None
    baseline_day: date | None
    response_line: float | None


class Axis:
    def __init__(self, start: date, end: date) -> None:
        self.start = start
        self.end = end
        self.days = max(1, (end - start).days)

    def x(self, day: date) -> float:
        frac = (day - self.start).days / self.days
        return round(PLOT_X0 + min(1.0, max(0.0, frac)) * (PLOT_X1 - PLOT_X0), 1)

    def months(self) -> list[date]:
        first = date(self.start.year, self.start.month, 1)
        if first < self.start:
            first = _add_months(first, 1)
        span = self.days / 30.4
        step = (
            1 if span <= 14 else 2 if span <= 26 else 3 if span <= 50 else 6 if span <= 100 else 12
        )
        out = []
        day = first
        while day <= self.end:
            if (day.month - 1) % step == 0:
                out.append(day)
            day = _add_months(day, 1)
        return out


def _add_months(day: date, n: int) -> date:
    month = day.month - 1 + n
    return date(day.year + month // 12, month % 12 + 1, 1)


def rows_of(assessment: Assessment, summary: dict[str, Any]) -> list[Row]:
    """Current-episode trials in start order, each augmentation under its antidepressant."""
    by_id = {t["id"]: t for t in summary.get("trials") or []}
    current = [t for t in assessment.trials if t.trial.in_current_episode and t.trial.id in by_id]
    sessions = sorted(assessment.record.sessions, key=lambda s: s.day)
    rows: list[Row] = []
    augments: dict[str, list[AssessedTrial]] = {}
    main_ids = {t.trial.id for t in current if t.trial.kind == "antidepressant"}
    for t in current:
        if t.trial.kind == "augmentation" and t.trial.attached_to in main_ids:
            augments.setdefault(t.trial.attached_to or "", []).append(t)
    for t in sorted(current, key=lambda a: (a.trial.start, a.trial.id)):
        tr = t.trial
        if tr.kind == "augmentation" and tr.attached_to in main_ids:
            continue
        if tr.kind in PROCEDURES:
            own = set(tr.resources)
            days = [s.day for s in sessions if s.resource in own]
            if not days:
                days = [s.day for s in sessions if s.kind == tr.kind and tr.start <= s.day < tr.end]
            rows.append(Row("course", t, by_id[tr.id], days))
            continue
        rows.append(Row("main" if tr.kind == "antidepressant" else "augmentation", t, by_id[tr.id]))
        for aug in sorted(augments.get(tr.id, []), key=lambda a: a.trial.start):
            rows.append(Row("augmentation", aug, by_id[aug.trial.id]))
    return rows


def score_series(
    assessment: Assessment, summary: dict[str, Any], maps: Mappings, response_drop: float
) -> ScoreSeries | None:
    """The severity scale to draw: the one the trials' outcomes were measured with, else the
    highest-priority one on record; its points within the episode (and before the as-of date)."""
    severity = [
        s
        for s in assessment.record.scores
        if s.scale in maps.scales
        and maps.scales[s.scale].kind == "severity"
        and s.day <= assessment.as_of
    ]
    if not severity:
        return None
    used: Counter[str] = Counter(
        str(t["baseline_score"].get("scale"))
        for t in summary.get("trials") or []
        if t.get("episode") == "current" and t.get("baseline_score")
    )
    used = Counter({k: n for k, n in used.items() if k in maps.scales})
    if used:
        name = used.most_common(1)[0][0]
    else:
        name = min({s.scale for s in severity}, key=lambda n: maps.scales[n].priority)
    scale: Scale = maps.scales[name]
    start = assessment.episode.start
    points = tuple(
        sorted(
            (s for s in severity if s.scale == name and (start is None or s.day >= start)),
            key=lambda s: s.day,
        )
    )
    if not points:
        return None
    baseline: float | None = None
    baseline_day: date | None = None
    for t in sorted(summary.get("trials") or [], key=lambda t: str(t.get("start"))):
        b = t.get("baseline_score")
        if t.get("episode") == "current" and b and b.get("scale") == name:
            baseline, baseline_day = float(b["value"]), date.fromisoformat(b["date"])
            break
    if baseline is None:
        baseline, baseline_day = points[0].value, points[0].day
    return ScoreSeries(
        name=name,
        points=points,
        low=scale.min,
        high=scale.max,
        remission_max=scale.remission_max,
        baseline=baseline,
        baseline_day=baseline_day,
        response_line=None if baseline is None else round(baseline * (1 - response_drop), 2),
    )


def axis_for(assessment: Assessment, rows: Sequence[Row], series: ScoreSeries | None) -> Axis:
    days: list[date] = [assessment.as_of]
    if assessment.episode.start:
        days.append(assessment.episode.start)
    days += [r.trial.trial.start for r in rows]
    if series:
        days += [p.day for p in series.points]
    start, end = min(days), max(days + [r.trial.trial.end for r in rows])
    pad = max(7, (end - start).days // 40)
    return Axis(start - timedelta(days=pad), end + timedelta(days=pad))


# -- drawing -------------------------------------------------------------------------------------
DEFS = """<defs>
<pattern id="pat-adequate" width="8" height="8" patternUnits="userSpaceOnUse">
<rect width="8" height="8" fill="#24527a"/></pattern>
<pattern id="pat-inadequate" width="7" height="7" patternUnits="userSpaceOnUse"
 patternTransform="rotate(45)"><rect width="7" height="7" fill="#fff4e6"/>
<rect width="3" height="7" fill="#c05621"/></pattern>
<pattern id="pat-indeterminate" width="7" height="7" patternUnits="userSpaceOnUse">
<rect width="7" height="7" fill="#f1f4f8"/><circle cx="3.5" cy="3.5" r="1.5" fill="#52606d"/>
</pattern>
</defs>"""


def legend() -> str:
    items = [
        ("adequate", "Adequate trial", "#24527a", None),
        ("inadequate", "Inadequate (dose or duration)", "#c05621", None),
        ("indeterminate", "Indeterminate (data missing)", "#52606d", "4 2"),
    ]
    out = ['<g class="legend" aria-hidden="true">']
    x = LABEL_X
    for key, text, stroke, dash in items:
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<rect x="{x}" y="9" width="26" height="14" rx="2" fill="{ADEQUACY_FILL[key]}" '
            f'stroke="{stroke}" stroke-width="1.2"{dash_attr}/>'
            f'<text x="{x + 33}" y="20" class="t-legend">{esc(text)}</text>'
        )
        x += 44 + len(text) * 7
    out.append(
        f'<line x1="{x}" x2="{x + 24}" y1="16" y2="16" class="tick-line"/>'
        f'<line x1="{x + 6}" x2="{x + 6}" y1="9" y2="23" class="tick-line"/>'
        f'<line x1="{x + 14}" x2="{x + 14}" y1="9" y2="23" class="tick-line"/>'
        f'<text x="{x + 32}" y="20" class="t-legend">Session</text>'
    )
    out.append("</g>")
    return "".join(out)


def _status_line(s: dict[str, Any]) -> str:
    parts = ["psychotherapy"] if s.get("kind") == "psychotherapy" else []
    parts.append(str(s.get("adequacy") or ""))
    outcome = s.get("outcome")
    if outcome:
        parts.append(str(outcome))
    if s.get("ongoing") and outcome != "ongoing":
        parts.append("ongoing")
    return " · ".join(p for p in parts if p)


def _title(s: dict[str, Any], row: Row) -> str:
    tr = row.trial.trial
    head = f"{tr.agent} ({KIND_LABEL.get(tr.kind, tr.kind)})"
    if tr.drug_class:
        head += f", {tr.drug_class}"
    span = f"{fmt_day(tr.start)} to {fmt_day(tr.end - timedelta(days=1))}"
    if s.get("ongoing"):
        span += " (ongoing)"
    lines = [head, span]
    if row.kind == "course" and tr.sessions is not None:
        lines.append(f"{tr.sessions} sessions")
    doses = [
        f"{num(d['daily_dose_mg'])} mg/day from {d['start']}" for d in s.get("dose_steps") or []
    ]
    lines += doses
    lines.append(f"Adequacy: {s.get('adequacy')}")
    if s.get("reasons"):
        lines.append("Why: " + "; ".join(str(r) for r in s["reasons"]))
    lines.append(f"Outcome: {s.get('outcome')} ({s.get('evidence')})")
    return "\n".join(lines)


def draw_row(row: Row, y: int, axis: Axis) -> str:
    s, tr = row.summary, row.trial.trial
    adequacy = str(s.get("adequacy") or "indeterminate")
    fill = ADEQUACY_FILL.get(adequacy, ADEQUACY_FILL["indeterminate"])
    stroke = {"adequate": "#24527a", "inadequate": "#c05621"}.get(adequacy, "#52606d")
    dash = ' stroke-dasharray="4 2"' if adequacy == "indeterminate" else ""
    x0, x1 = axis.x(tr.start), axis.x(tr.end)
    width = max(3.0, x1 - x0)
    label = tr.agent if row.kind != "augmentation" else f"+ {tr.agent}"
    if tr.drug_class and row.kind == "main":
        label += f" ({tr.drug_class})"
    if row.kind == "course":
        label = {
            "ect": "ECT",
            "rtms": "rTMS",
            "esketamine": "esketamine",
            "ketamine": "IV ketamine",
        }.get(tr.kind, "")
        if tr.kind == "psychotherapy":
            label = MODALITY.get(tr.modality or "", "psychotherapy")
        if tr.sessions is not None:
            label += f" · {tr.sessions} sessions"
    label_x = LABEL_X + (14 if row.kind == "augmentation" else 0)
    out = [
        f'<g class="trial-bar" data-trial="{esc(tr.id)}" data-kind="{esc(tr.kind)}" '
        f'data-adequacy="{esc(adequacy)}" tabindex="0" role="listitem" '
        f'aria-label="{esc(_title(s, row).replace(chr(10), "; "))}">',
        f"<title>{esc(_title(s, row))}</title>",
        f'<text x="{label_x}" y="{y + 17}" class="t-label">{esc(_clip(label, 30))}</text>',
        f'<text x="{label_x}" y="{y + 33}" class="t-status">{esc(_clip(_status_line(s), 36))}'
        "</text>",
    ]
    if row.kind == "main":
        steps = s.get("dose_steps") or []
        doses = [d["daily_dose_mg"] for d in steps if d.get("daily_dose_mg") is not None]
        top = max(doses) if doses else None
        base_y, full_h = y + 36, 20
        if not steps:
            steps = [
                {
                    "start": tr.start.isoformat(),
                    "end": (tr.end - timedelta(days=1)).isoformat(),
                    "daily_dose_mg": None,
                }
            ]
        for d in steps:
            sx = axis.x(date.fromisoformat(d["start"]))
            ex = axis.x(date.fromisoformat(d["end"]) + timedelta(days=1))
            dose = d.get("daily_dose_mg")
            h = full_h if dose is None or not top else max(8.0, round(full_h * dose / top, 1))
            out.append(
                f'<rect class="dose-step" x="{sx}" y="{base_y - h}" width="{max(2.0, ex - sx)}" '
                f'height="{h}" fill="{fill}" stroke="{stroke}" stroke-width="1"{dash}/>'
            )
            if ex - sx >= 40:
                text = "dose unknown" if dose is None else f"{num(dose)} mg"
                out.append(
                    f'<text x="{round((sx + ex) / 2, 1)}" y="{base_y - h - 4}" '
                    f'class="t-dose" text-anchor="middle">{esc(text)}</text>'
                )
    elif row.kind == "augmentation":
        out.append(
            f'<rect x="{x0}" y="{y + 14}" width="{width}" height="10" rx="2" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1"{dash}/>'
        )
        dose = tr.max_daily_dose_mg
        if dose is not None and width >= 60:
            out.append(f'<text x="{x0 + 4}" y="{y + 33}" class="t-dose">{esc(num(dose))} mg</text>')
    else:
        out.append(
            f'<rect x="{x0}" y="{y + 20}" width="{width}" height="12" rx="2" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1"{dash}/>'
        )
        for day in row.sessions:
            tx = axis.x(day)
            out.append(
                f'<line class="session-tick tick-line" x1="{tx}" x2="{tx}" y1="{y + 14}" '
                f'y2="{y + 38}"/>'
            )
    if s.get("ongoing"):
        out.append(f'<path d="M{x1} {y + 18} l7 8 l-7 8 z" class="ongoing" aria-hidden="true"/>')
    out.append("</g>")
    return "".join(out)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def draw_scores(series: ScoreSeries, y: int, axis: Axis) -> str:
    top, bottom = y + 14, y + PANEL_H - 10

    def sy(v: float) -> float:
        frac = (v - series.low) / max(1.0, series.high - series.low)
        return round(bottom - frac * (bottom - top), 1)

    out = [
        f'<g class="scores" data-scale="{esc(series.name)}">',
        f'<text x="{LABEL_X}" y="{y + 18}" class="t-label">{esc(series.name)} score</text>',
        f'<text x="{LABEL_X}" y="{y + 34}" class="t-status">higher is worse</text>',
        f'<rect x="{PLOT_X0}" y="{top}" width="{PLOT_X1 - PLOT_X0}" height="{bottom - top}" '
        'class="panel"/>',
    ]
    step = 5 if series.high <= 30 else 10
    v = series.low
    while v <= series.high:
        out.append(
            f'<line x1="{PLOT_X0}" x2="{PLOT_X1}" y1="{sy(v)}" y2="{sy(v)}" class="grid-y"/>'
            f'<text x="{PLOT_X0 - 8}" y="{sy(v) + 4}" class="t-axis" text-anchor="end">'
            f"{num(v)}</text>"
        )
        v += step
    if series.remission_max is not None:
        ry = sy(series.remission_max)
        out.append(
            f'<line class="threshold remission" x1="{PLOT_X0}" x2="{PLOT_X1}" y1="{ry}" '
            f'y2="{ry}" stroke-dasharray="8 5"/>'
            f'<text x="{PLOT_X1 - 4}" y="{ry - 5}" class="t-threshold" text-anchor="end">'
            f"remission ≤ {num(series.remission_max)}</text>"
        )
    if series.response_line is not None and series.baseline is not None:
        ry = sy(series.response_line)
        out.append(
            f'<line class="threshold response" x1="{PLOT_X0}" x2="{PLOT_X1}" y1="{ry}" '
            f'y2="{ry}" stroke-dasharray="3 4"/>'
            f'<text x="{PLOT_X1 - 4}" y="{ry - 5}" class="t-threshold" text-anchor="end">'
            f"response ≤ {num(series.response_line)} (50 % of baseline "
            f"{num(series.baseline)})</text>"
        )
    coords = [(axis.x(p.day), sy(p.value), p) for p in series.points]
    if len(coords) > 1:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x} {yy}" for i, (x, yy, _) in enumerate(coords))
        out.append(f'<path d="{path}" class="score-line"/>')
    show_values = len(coords) <= 24
    for x, yy, p in coords:
        out.append(
            f'<circle class="score-point" cx="{x}" cy="{yy}" r="4">'
            f"<title>{esc(series.name)} {num(p.value)} on {esc(fmt_day(p.day))}</title></circle>"
        )
        if show_values:
            out.append(
                f'<text x="{x}" y="{yy - 9}" class="t-value" text-anchor="middle">'
                f"{num(p.value)}</text>"
            )
    out.append("</g>")
    return "".join(out)


def draw_axis(axis: Axis, top: int, bottom: int) -> str:
    out = ['<g class="axis">']
    for day in axis.months():
        x = axis.x(day)
        label = MONTHS[day.month - 1] + (f" {day.year}" if day.month == 1 else "")
        out.append(
            f'<line x1="{x}" x2="{x}" y1="{top}" y2="{bottom}" class="grid-x"/>'
            f'<text x="{x}" y="{bottom + 16}" class="t-axis" text-anchor="middle">'
            f"{esc(label)}</text>"
        )
    out.append(
        f'<line x1="{PLOT_X0}" x2="{PLOT_X1}" y1="{bottom}" y2="{bottom}" class="axis-line"/>'
    )
    out.append("</g>")
    return "".join(out)


def draw_marker(axis: Axis, day: date, label: str, top: int, bottom: int, cls: str) -> str:
    x = axis.x(day)
    anchor = "end" if x > (PLOT_X0 + PLOT_X1) / 2 else "start"
    dx = -5 if anchor == "end" else 5
    return (
        f'<g class="marker {cls}"><line x1="{x}" x2="{x}" y1="{top}" y2="{bottom}" '
        f'stroke-dasharray="2 3"/><text x="{x + dx}" y="{top + 10}" class="t-marker" '
        f'text-anchor="{anchor}">{esc(label)}</text></g>'
    )


def timeline_svg(
    assessment: Assessment, summary: dict[str, Any], maps: Mappings, response_drop: float
) -> str:
    """The whole chart (an <svg> element), or an empty-state paragraph."""
    rows = rows_of(assessment, summary)
    series = score_series(assessment, summary, maps, response_drop)
    if not rows and series is None:
        return (
            '<p class="empty">No treatment trials or rating-scale scores in the current '
            "episode.</p>"
        )
    axis = axis_for(assessment, rows, series)
    y = LEGEND_H + 16
    body: list[str] = []
    bars_top = y - 14
    body.append('<g class="rows" role="list" aria-label="Treatments">')
    for row in rows:
        body.append(draw_row(row, y, axis))
        y += row.height
    body.append("</g>")
    if series is not None:
        y += 6
        body.append(draw_scores(series, y, axis))
        y += PANEL_H
    else:
        body.append(
            f'<text x="{LABEL_X}" y="{y + 16}" class="t-status">No rating-scale scores in this '
            "episode: outcomes cannot be measured.</text>"
        )
        y += 26
    bottom = y + 4
    height = bottom + AXIS_H
    markers = [
        draw_marker(
            axis, assessment.as_of, f"as of {fmt_day(assessment.as_of)}", bars_top, bottom, "as-of"
        )
    ]
    if assessment.episode.start and assessment.episode.start > axis.start:
        markers.append(
            draw_marker(
                axis, assessment.episode.start, "episode start", bars_top, bottom, "episode-start"
            )
        )
    desc = describe(rows, series, assessment)
    return (
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        'role="group" aria-labelledby="tl-title tl-desc" xmlns="http://www.w3.org/2000/svg">'
        '<title id="tl-title">Timeline of the current episode</title>'
        f'<desc id="tl-desc">{esc(desc)}</desc>'
        f"{DEFS}{legend()}{draw_axis(axis, bars_top, bottom)}{''.join(markers)}"
        f"{''.join(body)}</svg>"
    )


def describe(rows: Iterable[Row], series: ScoreSeries | None, assessment: Assessment) -> str:
    parts = []
    for r in rows:
        tr = r.trial.trial
        parts.append(
            f"{tr.agent} {tr.start.isoformat()} to {(tr.end - timedelta(days=1)).isoformat()}, "
            f"{r.summary.get('adequacy')}, {r.summary.get('outcome')}"
        )
    text = "; ".join(parts) or "No treatment trials"
    if series:
        values = ", ".join(num(p.value) for p in series.points)
        text += f". {series.name} scores: {values}"
    return text + f". As of {assessment.as_of.isoformat()}."
