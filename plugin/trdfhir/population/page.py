"""The population report as one self-contained HTML page (Jinja2, autoescape on): inline CSS,
inline SVG figures, no script, and a Content-Security-Policy that forbids any request."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from .figures import Chart

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_READING_ROWS = 400


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _ci(pair: Sequence[float | None] | None) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return "n/a"
    return f"{100 * pair[0]:.1f}-{100 * pair[1]:.1f} %"


def _kci(pair: Sequence[float | None] | None) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return "n/a"
    return f"{pair[0]:.2f} to {pair[1]:.2f}"


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def flatten(data: object, prefix: str = "") -> Iterator[tuple[str, str]]:
    """reading.json as (dotted key, value) rows: scalars as they are, lists by their length."""
    if isinstance(data, dict):
        for key in data:
            yield from flatten(data[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        yield prefix, f"{len(data)} item{'s' if len(data) != 1 else ''}"
    else:
        yield prefix, "null" if data is None else str(data)


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(pct=_pct, ci=_ci, kci=_kci, num=_num)
    return env


def figure_markup(chart: Chart) -> Markup:
    """A figure: the SVG (role img, labelled by the caption) and its text alternative."""
    ident = f"fig-{chart.name}"
    svg = chart.svg.replace("<svg ", f'<svg role="img" aria-labelledby="{ident}-alt" ', 1)
    return Markup(
        '<figure id="{id}" data-figure="{name}">{svg}'
        "<figcaption><strong>{title}</strong>"
        '<p class="alt" id="{id}-alt">{alt}</p></figcaption></figure>'
    ).format(id=ident, name=chart.name, svg=Markup(svg), title=chart.title, alt=chart.alt)  # noqa: S704 (the SVG is matplotlib's output of our numbers; every other value is escaped by format)


def render(
    numbers: dict[str, Any],
    charts: Sequence[Chart],
    *,
    as_of: str,
    version: str,
    contract: str,
    overrides: dict[str, Any],
    error_kinds: dict[str, int],
    bad_lines: int,
    reading: dict[str, Any] | None,
    notes: Sequence[str],
    label: str | None,
) -> str:
    by_name = {c.name: c for c in charts}

    def figure(name: str) -> Markup:
        chart = by_name.get(name)
        return figure_markup(chart) if chart else Markup("")

    rows = list(flatten(reading))[:MAX_READING_ROWS] if reading is not None else None
    template = environment().get_template("population.html.j2")
    return template.render(
        numbers=numbers,
        patients=numbers["patients"],
        labels={r["model"]: r["label"] for r in numbers["prevalence"]},
        figure=figure,
        as_of=as_of,
        version=version,
        contract=contract,
        overrides=", ".join(f"{k}={v}" for k, v in sorted(overrides.items())),
        error_kinds=error_kinds,
        bad_lines=bad_lines,
        reading=rows,
        notes=notes,
        label=label,
    )
