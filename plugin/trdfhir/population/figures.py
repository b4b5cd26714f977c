"""The figures of the population report, drawn with matplotlib (Agg, no display): each has a
title, labelled axes, the Okabe-Ito colour-blind-safe palette (cividis for heat maps) and a text
alternative that states the numbers it shows. Output is deterministic: SVG without a date and
with ids salted by the figure's name, PNG without software metadata."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

matplotlib.use("Agg")  # no display; the Figure API below never touches pyplot

# Okabe & Ito 2008, "Color universal design": distinguishable with every common colour-vision
# deficiency.
OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)
HEATMAP = "cividis"  # perceptually uniform and colour-blind safe
STYLE: Any = {
    "svg.hashsalt": "trd-fhir",
    "svg.fonttype": "path",
    "font.size": 10,
    "axes.titlesize": 11,
    "figure.dpi": 100,
}


@dataclass(frozen=True)
class Chart:
    name: str  # file stem: NAME.svg, NAME.png
    title: str
    alt: str  # the text alternative: what the figure shows, with its numbers
    svg: str  # inline SVG markup (no XML declaration)
    figure: Figure


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f} %"


def _svg(fig: Figure, name: str) -> str:
    buffer = io.StringIO()
    salted: Any = {**STYLE, "svg.hashsalt": f"trd-fhir-{name}"}
    with matplotlib.rc_context(salted):
        fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    text = re.sub(r"^<\?xml[^>]*>\s*", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>\s*", "", text)
    return text


def _chart(fig: Figure, name: str, title: str, alt: str) -> Chart:
    return Chart(name, title, alt, _svg(fig, name), fig)


def _new(width: float, height: float) -> Figure:
    with matplotlib.rc_context(STYLE):
        return Figure(figsize=(width, height), layout="constrained")


def prevalence_chart(rows: Sequence[dict[str, Any]]) -> Chart:
    fig = _new(7.5, 3.6)
    ax = fig.add_subplot()
    labels = [r["label"] for r in rows][::-1]
    shares = [100 * (r["share"] or 0) for r in rows][::-1]
    lows = [100 * ((r["share"] or 0) - (r["ci95"] or [0, 0])[0]) for r in rows][::-1]
    highs = [100 * ((r["ci95"] or [0, 0])[1] - (r["share"] or 0)) for r in rows][::-1]
    ax.barh(labels, shares, xerr=[lows, highs], color=OKABE_ITO[0], capsize=4, ecolor="#000000")
    for y, (share, r) in enumerate(zip(shares, rows[::-1], strict=True)):
        ax.text(share + 1, y + 0.25, f"{r['count']}/{r['n']}", fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("patients meeting the model's TRD definition (%), with 95 % Wilson interval")
    ax.set_ylabel("staging model")
    ax.set_title("Prevalence of TRD by staging model")
    alt = "Horizontal bar chart of TRD prevalence per model: " + "; ".join(
        f"{r['label']} {r['count']} of {r['n']} ({_pct(r['share'])}, 95 % CI "
        f"{_pct((r['ci95'] or [None, None])[0])} to {_pct((r['ci95'] or [None, None])[1])})"
        for r in rows
    )
    return Chart(
        "prevalence", "Prevalence of TRD by staging model", alt, _svg(fig, "prevalence"), fig
    )


STAGE_PANELS: tuple[tuple[str, str, str], ...] = (
    ("thase_rush_stage", "Thase-Rush stage", "stage"),
    ("esm_category", "European Staging Method", "category"),
    ("maudsley_category", "Maudsley category", "category"),
    ("maudsley_score", "Maudsley score (3-15)", "score"),
    ("mgh_score", "MGH-S score", "score"),
    ("conway_stage", "Conway stage", "stage"),
)


def stages_chart(distributions: dict[str, dict[str, int]]) -> Chart:
    fig = _new(10, 5.6)
    axes = fig.subplots(2, 3)
    parts = []
    for ax, (key, title, xlabel) in zip(axes.flat, STAGE_PANELS, strict=True):
        counts = distributions[key]
        names, values = list(counts), list(counts.values())
        colours = [OKABE_ITO[4] if n in ("not rated", "no score") else OKABE_ITO[1] for n in names]
        ax.bar(names, values, color=colours)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("patients")
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
            tick.set_rotation_mode("anchor")
        parts.append(f"{title}: " + ", ".join(f"{n} {v}" for n, v in counts.items()))
    fig.suptitle("Distribution of stages and scores per model")
    alt = "Six bar charts of patients per stage or score. " + "; ".join(parts)
    return Chart(
        "stages", "Distribution of stages and scores per model", alt, _svg(fig, "stages"), fig
    )


def _matrix(ax: Axes, labels: list[str], pairs: Sequence[dict[str, Any]], title: str) -> None:
    size = len(labels)
    grid = [[float("nan")] * size for _ in range(size)]
    for i in range(size):
        grid[i][i] = 1.0
    index = {name: i for i, name in enumerate(labels)}
    for p in pairs:
        i, j = index[p["a"]], index[p["b"]]
        value = float("nan") if p["kappa"] is None else p["kappa"]
        grid[i][j] = grid[j][i] = value
    image = ax.imshow(grid, cmap=HEATMAP, vmin=-1, vmax=1)
    notes = {(index[p["a"]], index[p["b"]]): p for p in pairs}
    for i in range(size):
        for j in range(size):
            cell: dict[str, Any] | None = notes.get((i, j)) or notes.get((j, i))
            if i == j:
                text = "—"
            elif cell is None or cell["kappa"] is None:
                text = "n/a"
            else:
                text = f"{cell['kappa']:.2f}\nn={cell['n']}"
            value = grid[i][j]
            dark = not math.isnan(value) and value < 0.3
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="#FFFFFF" if dark else "#000000",
            )
    ax.set_xticks(range(size), labels, rotation=45, ha="right")
    ax.set_yticks(range(size), labels)
    ax.set_xlabel("model")
    ax.set_ylabel("model")
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label="kappa")


def agreement_chart(agreement: dict[str, Any], models: list[str], ordinal: list[str]) -> Chart:
    fig = _new(11, 4.8)
    left, right = fig.subplots(1, 2)
    _matrix(left, models, agreement["binary"], "Cohen's kappa, TRD yes/no")
    _matrix(right, ordinal, agreement["ordinal"], "Quadratic-weighted kappa, stages")
    fig.suptitle("Agreement between staging models")

    def describe(pairs: Sequence[dict[str, Any]]) -> str:
        return "; ".join(
            f"{p['a']} vs {p['b']}: "
            + ("undefined" if p["kappa"] is None else f"{p['kappa']:.2f}")
            + f" (n={p['n']})"
            for p in pairs
        )

    alt = (
        "Two heat maps of kappa between pairs of models. Binary TRD labels: "
        + describe(agreement["binary"])
        + ". Ordinal stages on the common 0-3 scale: "
        + describe(agreement["ordinal"])
    )
    return _chart(fig, "agreement", "Agreement between staging models", alt)


def failed_trials_chart(failed: dict[str, Any]) -> Chart:
    fig = _new(7.5, 3.6)
    ax = fig.add_subplot()
    n = failed["failed"]
    rows = [("adequate", failed["by_adequacy"]["adequate"])]
    rows += [(f"inadequate: {r['label']}", r["count"]) for r in failed["inadequate_by_reason"]]
    rows.append(("indeterminate", failed["by_adequacy"]["indeterminate"]))
    names = [name for name, _ in rows][::-1]
    values = [100 * v / n if n else 0 for _, v in rows][::-1]
    colours = [OKABE_ITO[2]] + [OKABE_ITO[5]] * (len(rows) - 2) + [OKABE_ITO[4]]
    ax.barh(names, values, color=colours[::-1])
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"share of the {n} failed antidepressant trials (%)")
    ax.set_ylabel("adequacy of the failed trial")
    ax.set_title("Were the failed trials adequate?")
    alt = (
        f"Bar chart of the {n} failed antidepressant trials of the current episodes: "
        + "; ".join(f"{name} {v} ({_pct(v / n if n else None)})" for name, v in rows)
        + ". A trial can have several inadequacy reasons."
    )
    return Chart(
        "failed_trials", "Were the failed trials adequate?", alt, _svg(fig, "failed_trials"), fig
    )


def pseudo_resistance_chart(rows: Sequence[dict[str, Any]]) -> Chart:
    fig = _new(7.5, 5.2)
    ax = fig.add_subplot()
    groups = sorted({r["group"] for r in rows})
    colour = {g: OKABE_ITO[i % len(OKABE_ITO)] for i, g in enumerate(groups)}
    ordered = rows[::-1]
    ax.barh(
        [r["code"] for r in ordered],
        [100 * (r["share"] or 0) for r in ordered],
        color=[colour[r["group"]] for r in ordered],
    )
    handles = [Patch(color=colour[g], label=g) for g in groups]
    ax.legend(handles=handles, loc="lower right", fontsize=8, title="group")
    ax.set_xlim(0, 100)
    ax.set_xlabel("patients with the finding (%)")
    ax.set_ylabel("finding")
    ax.set_title("Pseudo-resistance findings")
    alt = "Horizontal bar chart of the share of patients with each pseudo-resistance finding: " + (
        "; ".join(
            f"{r['code']} ({r['group']}) {r['count']} of {r['n']} ({_pct(r['share'])})"
            for r in rows
        )
    )
    return Chart(
        "pseudo_resistance", "Pseudo-resistance findings", alt, _svg(fig, "pseudo_resistance"), fig
    )


def upper_bound_chart(models: Sequence[dict[str, Any]]) -> Chart:
    fig = _new(7.5, 3.6)
    ax = fig.add_subplot()
    x = list(range(len(models)))
    width = 0.38
    ax.bar(
        [i - width / 2 for i in x],
        [m["now"] for m in models],
        width,
        label="TRD now",
        color=OKABE_ITO[0],
    )
    ax.bar(
        [i + width / 2 for i in x],
        [m["upper"] for m in models],
        width,
        label="TRD if indeterminate trials were adequate",
        color=OKABE_ITO[1],
        hatch="//",
    )
    ax.set_xticks(x, [m["label"] for m in models], rotation=20, ha="right")
    ax.set_xlabel("staging model")
    ax.set_ylabel("patients")
    ax.set_title("The upper bound: TRD now and at most")
    ax.legend(fontsize=8)
    alt = "Grouped bar chart, patients TRD now and at the upper bound: " + "; ".join(
        f"{m['label']} {m['now']} now, up to {m['upper']} (+{m['could_be']}) of {m['n']}"
        for m in models
    )
    return Chart(
        "upper_bound", "The upper bound: TRD now and at most", alt, _svg(fig, "upper_bound"), fig
    )


def all_charts(numbers: dict[str, Any], ordinal_models: list[str]) -> list[Chart]:
    models = [r["model"] for r in numbers["prevalence"]]
    makers: list[Callable[[], Chart]] = [
        lambda: prevalence_chart(numbers["prevalence"]),
        lambda: stages_chart(numbers["distributions"]),
        lambda: agreement_chart(numbers["agreement"], models, ordinal_models),
        lambda: failed_trials_chart(numbers["failed_trials"]),
        lambda: pseudo_resistance_chart(numbers["pseudo_resistance"]),
        lambda: upper_bound_chart(numbers["upper_bound"]["models"]),
    ]
    return [make() for make in makers]


def write_files(charts: Sequence[Chart], directory: Path) -> list[Path]:
    """NAME.svg and NAME.png per chart (deterministic bytes)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for chart in charts:
        svg, png = directory / f"{chart.name}.svg", directory / f"{chart.name}.png"
        svg.write_text(
            '<?xml version="1.0" encoding="utf-8" standalone="no"?>\n' + chart.svg, encoding="utf-8"
        )
        with matplotlib.rc_context(STYLE):
            chart.figure.savefig(
                png, format="png", dpi=150, metadata={"Software": None}, bbox_inches="tight"
            )
        written += [svg, png]
    return written
