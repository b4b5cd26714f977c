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

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ..assessment import Assessment
from ..mappings import Mappings, Scale
from ..model import AssessedTrial, Score
from .markup import MONTHS, fmt_day, num, render

LEGEND_KEYS = ("adequate", "inadequate", "indeterminate")
ROW_MAIN = 48
ROW_AUG = 40
ROW_COURSE = 48
PANEL_H = 150
AXIS_H = 34
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
STROKE = {"adequate": "#24527a", "inadequate": "#c05621", "indeterminate": "#52606d"}
LEGEND = (
    ("adequate", "Adequate trial"),
    ("inadequate", "Inadequate (dose or duration)"),
    ("indeterminate", "Indeterminate (data missing)"),
)


@dataclass(frozen=True)
class Layout:
    """Where things go: `wide` puts the labels left of the bars (a desktop or an EHR frame);
    `narrow` (a 390 px phone) puts them above the bars so the time axis has the full width."""

    name: str
    width: int
    label_x: int
    plot_x0: int
    plot_x1: int
    label_h: int  # the label lines above each bar (0: labels beside the bars)
    label_chars: int
    status_chars: int

    @property
    def prefix(self) -> str:  # ids are per layout: both charts are in the page
        return f"tl-{self.name}"


WIDE = Layout("wide", 1000, 12, 232, 972, 0, 30, 36)
NARROW = Layout("narrow", 390, 8, 30, 380, 30, 46, 54)
LAYOUTS = (WIDE, NARROW)


@dataclass
class Row:
    kind: str  # main, augmentation, course
    trial: AssessedTrial
    summary: dict[str, Any]
    sessions: list[date] = field(default_factory=list)

    def height(self, layout: Layout) -> int:
        base = {"main": ROW_MAIN, "augmentation": ROW_AUG, "course": ROW_COURSE}[self.kind]
        return base + layout.label_h


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
    def __init__(self, start: date, end: date, layout: Layout = WIDE) -> None:
        self.start = start
        self.end = end
        self.days = max(1, (end - start).days)
        self.x0, self.x1 = layout.plot_x0, layout.plot_x1

    def x(self, day: date) -> float:
        frac = (day - self.start).days / self.days
        return round(self.x0 + min(1.0, max(0.0, frac)) * (self.x1 - self.x0), 1)

    def months(self) -> list[date]:
        first = date(self.start.year, self.start.month, 1)
        if first < self.start:
            first = _add_months(first, 1)
        # months per tick: as many ticks as fit the plot's width (740 units hold 14)
        span = self.days / 30.4 * 740 / (self.x1 - self.x0)
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


def axis_for(
    assessment: Assessment,
    rows: Sequence[Row],
    series: ScoreSeries | None,
    layout: Layout = WIDE,
) -> Axis:
    days: list[date] = [assessment.as_of]
    if assessment.episode.start:
        days.append(assessment.episode.start)
    days += [r.trial.trial.start for r in rows]
    if series:
        days += [p.day for p in series.points]
    start, end = min(days), max(days + [r.trial.trial.end for r in rows])
    pad = max(7, (end - start).days // 40)
    return Axis(start - timedelta(days=pad), end + timedelta(days=pad), layout)


# -- geometry for the template (templates/timeline.svg) ------------------------------------------
@dataclass(frozen=True)
class Shape:
    """One bar piece: a dose step, an augmentation or course bar (with its optional label)."""

    x: float
    y: float
    width: float
    height: float
    text: str | None = None
    text_x: float = 0.0
    text_y: float = 0.0
    centred: bool = False


@dataclass(frozen=True)
class BarView:
    id: str
    kind: str
    row_kind: str
    adequacy: str
    title: str
    label: str
    label_x: int
    label_y: int
    status: str
    status_y: int
    shapes: tuple[Shape, ...]
    ticks: tuple[float, ...]
    tick_y0: int
    tick_y1: int
    ongoing: tuple[float, int] | None


@dataclass(frozen=True)
class Tick:
    value: str
    y: float


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: str
    title: str


@dataclass(frozen=True)
class Threshold:
    kind: str
    y: float
    dash: str
    text: str


@dataclass(frozen=True)
class ScoresView:
    name: str
    label_y: int
    status_y: int
    stacked: bool
    top: float
    bottom: float
    grid: tuple[Tick, ...]
    thresholds: tuple[Threshold, ...]
    path: str
    points: tuple[Point, ...]
    show_values: bool


@dataclass(frozen=True)
class MarkerView:
    kind: str
    x: float
    text: str
    anchor: str
    dx: int


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
        f"{num(d['daily_dose_mg'])} mg/day from {fmt_day(d['start'])}"
        for d in s.get("dose_steps") or []
    ]
    lines += doses
    lines.append(f"Adequacy: {s.get('adequacy')}")
    if s.get("reasons"):
        lines.append("Why: " + "; ".join(str(r) for r in s["reasons"]))
    lines.append(f"Outcome: {s.get('outcome')} ({s.get('evidence')})")
    return "\n".join(lines)


def _label(row: Row) -> str:
    tr = row.trial.trial
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
    return label


def bar_view(row: Row, y: int, axis: Axis, layout: Layout) -> BarView:
    s, tr = row.summary, row.trial.trial
    adequacy = str(s.get("adequacy") or "indeterminate")
    if adequacy not in STROKE:
        adequacy = "indeterminate"
    x0, x1 = axis.x(tr.start), axis.x(tr.end)
    width = max(3.0, x1 - x0)
    yb = y + layout.label_h  # the bar's own band
    shapes: list[Shape] = []
    ticks: tuple[float, ...] = ()
    if row.kind == "main":
        steps = s.get("dose_steps") or []
        doses = [d["daily_dose_mg"] for d in steps if d.get("daily_dose_mg") is not None]
        top = max(doses) if doses else None
        base_y, full_h = yb + 36, 20
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
            text = None
            if ex - sx >= 40:
                text = "dose unknown" if dose is None else f"{num(dose)} mg"
            shapes.append(
                Shape(
                    sx,
                    base_y - h,
                    max(2.0, ex - sx),
                    h,
                    text,
                    round((sx + ex) / 2, 1),
                    base_y - h - 4,
                    centred=True,
                )
            )
    elif row.kind == "augmentation":
        dose = tr.max_daily_dose_mg
        text = f"{num(dose)} mg" if dose is not None and width >= 60 else None
        shapes.append(Shape(x0, yb + 14, width, 10, text, x0 + 4, yb + 33))
    else:
        shapes.append(Shape(x0, yb + 20, width, 12))
        ticks = tuple(axis.x(day) for day in row.sessions)
    title = _title(s, row)
    stacked = layout.label_h > 0
    return BarView(
        id=tr.id,
        kind=tr.kind,
        row_kind=row.kind,
        adequacy=adequacy,
        title=title,
        label=_clip(_label(row), layout.label_chars),
        label_x=layout.label_x + (14 if row.kind == "augmentation" else 0),
        label_y=y + (14 if stacked else 17),
        status=_clip(_status_line(s), layout.status_chars),
        status_y=y + (28 if stacked else 33),
        shapes=tuple(shapes),
        ticks=ticks,
        tick_y0=yb + 14,
        tick_y1=yb + 38,
        ongoing=(x1, yb + 18) if s.get("ongoing") else None,
    )


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def scores_view(series: ScoreSeries, y: int, axis: Axis, layout: Layout) -> ScoresView:
    stacked = layout.label_h > 0
    top, bottom = y + (24 if stacked else 14), y + PANEL_H - 10

    def sy(v: float) -> float:
        frac = (v - series.low) / max(1.0, series.high - series.low)
        return round(bottom - frac * (bottom - top), 1)

    step = 5 if series.high <= 30 else 10
    grid = []
    v = series.low
    while v <= series.high:
        grid.append(Tick(num(v), sy(v)))
        v += step
    thresholds = []
    if series.remission_max is not None:
        thresholds.append(
            Threshold(
                "remission",
                sy(series.remission_max),
                "8 5",
                f"remission ≤ {num(series.remission_max)}",
            )
        )
    if series.response_line is not None and series.baseline is not None:
        thresholds.append(
            Threshold(
                "response",
                sy(series.response_line),
                "3 4",
                f"response ≤ {num(series.response_line)} (50 % of baseline {num(series.baseline)})",
            )
        )
    coords = [(axis.x(p.day), sy(p.value), p) for p in series.points]
    path = ""
    if len(coords) > 1:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x} {yy}" for i, (x, yy, _) in enumerate(coords))
    return ScoresView(
        name=series.name,
        label_y=y + 18 if not stacked else y + 14,
        status_y=y + 34,
        stacked=stacked,
        top=top,
        bottom=bottom,
        grid=tuple(grid),
        thresholds=tuple(thresholds),
        path=path,
        points=tuple(
            Point(x, yy, num(p.value), f"{series.name} {num(p.value)} on {fmt_day(p.day)}")
            for x, yy, p in coords
        ),
        show_values=len(coords) <= (24 if not stacked else 8),  # values that fit the width
    )


def axis_ticks(axis: Axis) -> list[tuple[float, str]]:
    """(x, label) per tick; the first tick and every January carry the year."""
    out = []
    for i, day in enumerate(axis.months()):
        label = MONTHS[day.month - 1] + (f" {day.year}" if day.month == 1 or i == 0 else "")
        out.append((axis.x(day), label))
    return out


def marker_view(axis: Axis, day: date, text: str, kind: str) -> MarkerView:
    x = axis.x(day)
    anchor = "end" if x > (axis.x0 + axis.x1) / 2 else "start"
    return MarkerView(kind, x, text, anchor, -5 if anchor == "end" else 5)


def chart(
    assessment: Assessment,
    rows: Sequence[Row],
    series: ScoreSeries | None,
    layout: Layout,
    desc: str,
) -> dict[str, Any]:
    """Everything one layout's <svg> needs, in that layout's coordinates."""
    axis = axis_for(assessment, rows, series, layout)
    y = 16
    bars_top = y - 14
    bars = []
    for row in rows:
        bars.append(bar_view(row, y, axis, layout))
        y += row.height(layout)
    scores = None
    no_scores_y = 0
    if series is not None:
        y += 6
        scores = scores_view(series, y, axis, layout)
        y += PANEL_H
    else:
        no_scores_y = y + 16
        y += 42
    bottom = y + 4
    markers = [marker_view(axis, assessment.as_of, f"as of {fmt_day(assessment.as_of)}", "as-of")]
    if assessment.episode.start and assessment.episode.start > axis.start:
        start = assessment.episode.start
        markers.append(marker_view(axis, start, "episode start", "episode-start"))
    return {
        "layout": layout,
        "height": bottom + AXIS_H,
        "desc": desc,
        "bars": bars,
        "scores": scores,
        "no_scores_y": no_scores_y,
        "ticks": axis_ticks(axis),
        "markers": markers,
        "bars_top": bars_top,
        "bottom": bottom,
        "stroke": STROKE,
    }


def timeline_svg(
    assessment: Assessment, summary: dict[str, Any], maps: Mappings, response_drop: float
) -> str:
    """The chart: an HTML legend and one <svg> per layout (the stylesheet shows the one that
    fits the screen), or an empty-state paragraph."""
    rows = rows_of(assessment, summary)
    series = score_series(assessment, summary, maps, response_drop)
    if not rows and series is None:
        return render("timeline.svg", charts=[], legend=LEGEND, stroke=STROKE)
    desc = describe(rows, series, assessment)
    charts = [chart(assessment, rows, series, layout, desc) for layout in LAYOUTS]
    return render("timeline.svg", charts=charts, legend=LEGEND, stroke=STROKE)


def describe(rows: Iterable[Row], series: ScoreSeries | None, assessment: Assessment) -> str:
    parts = []
    for r in rows:
        tr = r.trial.trial
        parts.append(
            f"{tr.agent} {fmt_day(tr.start)} to {fmt_day(tr.end - timedelta(days=1))}, "
            f"{r.summary.get('adequacy')}, {r.summary.get('outcome')}"
        )
    text = "; ".join(parts) or "No treatment trials"
    if series:
        values = ", ".join(num(p.value) for p in series.points)
        text += f". {series.name} scores: {values}"
    return text + f". As of {fmt_day(assessment.as_of)}."
