"""The SMART app's HTML: the clinician's page and the message pages (errors, results).

Server-rendered from templates/ with `string.Template`; every value is escaped here. No inline
script or style (the CSP forbids both): behaviour is in static/app.js, looks in static/app.css.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlsplit

from ..assessment import Assessment
from ..auth.smart import WRITE_NEEDS, GrantedScopes
from ..mappings import Mappings
from ..staging import registry
from ..staging.base import page_upper
from .smart_timeline import fmt_day, num, timeline_svg

TEMPLATES = Path(__file__).resolve().parent / "templates"

SEVERITY_ORDER = {"urgent": 0, "warning": 1, "info": 2}
SEVERITY_LABEL = {"urgent": "Urgent", "warning": "Warning", "info": "Note"}


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


@cache
def template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def words(code: str) -> str:
    text = code.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


# -- staging ---------------------------------------------------------------------------------------
def model_label(name: str) -> str:
    """A model's heading on the page (its declaration's `page_label`)."""
    spec = registry().find(name)
    return spec.page_label if spec else words(name)


def stage_result(name: str, value: Any) -> str:
    """One model's result in words (plain text), as its declaration's `page_result` says."""
    spec = registry().find(name)
    if spec is not None:
        return spec.page_result(value)
    v: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
    if isinstance(value, str):
        return words(value)
    if "score" in v:
        return "Not scored" if v.get("score") is None else num(v.get("score"))
    if "stage" in v:
        return f"Stage {v['stage']}"
    return "—"


def upper_text(name: str, value: Any) -> str:
    spec = registry().find(name)
    return spec.page_upper(value) if spec else page_upper(value)


def staging_table(assessment: Assessment, summary: Mapping[str, Any]) -> str:
    explanations: Mapping[str, Any] = summary.get("explanations") or {}
    upper: Mapping[str, Any] = summary.get("upper_bound") or {}
    rows = []
    for name, value in (summary.get("stages") or {}).items():
        explanation = explanations.get(name) or {}
        result = stage_result(name, value)
        headline = assessment.stages[name].headline if name in assessment.stages else None
        differs = name in upper and upper[name] != headline
        upper_cell = (
            f'<td class="upper differs"><span class="badge">if indeterminate trials were '
            f"adequate</span> {esc(upper_text(name, upper[name]))}</td>"
            if differs
            else '<td class="upper"><span class="muted">same</span></td>'
        )
        rows.append(
            f'<tr data-model="{esc(name)}"><th scope="row">{esc(model_label(name))}'
            f"</th>"
            f'<td class="result">{esc(result)}</td>'
            f'<td class="explain">{esc(explanation.get("text") or "")}'
            f'<span class="source">{esc(explanation.get("source") or "")}</span></td>'
            f"{upper_cell}</tr>"
        )
    return (
        '<table class="staging"><caption class="sr-only">Staging results by model</caption>'
        '<thead><tr><th scope="col">Model</th><th scope="col">Result</th>'
        '<th scope="col">Why</th><th scope="col">Upper bound</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
    )


# -- findings and suggestions ----------------------------------------------------------------------
def finding_item(f: Mapping[str, Any], maps: Mappings) -> str:
    code = str(f.get("code"))
    severity = str(f.get("severity") or "info")
    info = maps.findings.get(code)
    title = info.text if info else words(code)
    detail = f.get("detail") or ""
    return (
        f'<li class="finding {esc(severity)}" data-code="{esc(code)}">'
        f'<span class="sev">{esc(SEVERITY_LABEL.get(severity, severity))}</span>'
        f'<div><p class="f-title">{esc(title)}</p>'
        + (f'<p class="f-detail">{esc(detail)}</p>' if detail and detail != title else "")
        + f'<p class="source">Source: {esc(f.get("source") or "—")}</p></div></li>'
    )


def findings_html(summary: Mapping[str, Any], maps: Mappings) -> tuple[str, str]:
    """(the urgent alert box, the list of the others)."""
    items = sorted(
        summary.get("findings") or [],
        key=lambda f: SEVERITY_ORDER.get(str(f.get("severity")), 3),
    )
    urgent = [f for f in items if f.get("severity") == "urgent"]
    rest = [f for f in items if f.get("severity") != "urgent"]
    alert = ""
    if urgent:
        alert = (
            '<section class="alert" role="alert" aria-labelledby="h-urgent">'
            '<h2 id="h-urgent"><span class="alert-icon" aria-hidden="true">!</span>'
            f"Urgent: {len(urgent)} finding{'s need' if len(urgent) != 1 else ' needs'} attention"
            "</h2>"
            '<ul class="findings">' + "".join(finding_item(f, maps) for f in urgent) + "</ul>"
            "</section>"
        )
    if rest:
        listing = '<ul class="findings">' + "".join(finding_item(f, maps) for f in rest) + "</ul>"
    elif urgent:
        listing = '<p class="empty">No other findings (the urgent ones are shown above).</p>'
    else:
        listing = '<p class="empty">No findings.</p>'
    return alert, listing


def suggestions_html(summary: Mapping[str, Any]) -> str:
    items = summary.get("suggestions") or []
    if not items:
        return '<p class="empty">No suggestions.</p>'
    out = ['<ol class="suggestions">']
    for s in items:
        out.append(
            f'<li data-code="{esc(s.get("code"))}"><p class="s-text">{esc(s.get("text"))}</p>'
            f'<p class="s-why"><span class="k">Why</span> {esc(s.get("reason") or "—")}</p>'
            f'<p class="source">Source: {esc(s.get("source") or "—")}</p>'
            + cautions_html(s.get("cautions") or [])
            + plan_html(s.get("plan") or [])
            + "</li>"
        )
    out.append("</ol>")
    return "".join(out)


def cautions_html(cautions: list[Any]) -> str:
    if not cautions:
        return ""
    items = "".join(
        f'<li data-code="{esc(c.get("code"))}"><span class="k">Caution</span> '
        f"{esc(c.get('text'))} <span class=muted>({esc(c.get('source'))})</span></li>"
        for c in cautions
    )
    return f'<ul class="cautions">{items}</ul>'


def plan_html(steps: list[Any]) -> str:
    """The sequential plan: ordered steps, each only after the previous one succeeded."""
    if not steps:
        return ""
    items = "".join(
        f'<li data-code="{esc(p.get("code"))}">{esc(p.get("text"))} '
        f'<span class="k">When</span> {esc(p.get("timing"))}; '
        f'<span class="k">only if</span> {esc(p.get("condition"))} '
        f"<span class=muted>({esc(p.get('source'))})</span></li>"
        for p in steps
    )
    return (
        '<p class="s-plan"><span class="k">Plan</span> each step only after the previous one '
        f'succeeded; relative timing, not dates or orders</p><ol class="plan">{items}</ol>'
    )


# -- banner, trials table, warnings ----------------------------------------------------------------
def patient_name(patient: Mapping[str, Any] | None) -> str:
    for name in (patient or {}).get("name") or []:
        if not isinstance(name, dict):
            continue
        if isinstance(name.get("text"), str) and name["text"].strip():
            return str(name["text"]).strip()
        given = " ".join(g for g in name.get("given") or [] if isinstance(g, str))
        family = name.get("family") if isinstance(name.get("family"), str) else ""
        full = f"{given} {family}".strip()
        if full:
            return full
    return "Unnamed patient"


def age_on(birth: str | None, day: date) -> int | None:
    try:
        born = date.fromisoformat(str(birth)[:10])
    except (TypeError, ValueError):
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def banner_html(patient: Mapping[str, Any] | None, patient_id: str, as_of: date) -> str:
    birth = (patient or {}).get("birthDate")
    age = age_on(birth, as_of)
    gender = (patient or {}).get("gender")
    born = "unknown"
    if isinstance(birth, str):
        born = birth + (f" ({age} y)" if age is not None else "")
    fields = [
        ("Born", born),
        ("Sex", str(gender) if isinstance(gender, str) else "unknown"),
        ("Patient id", patient_id),
    ]
    dl = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in fields)
    return (
        '<section class="banner" aria-label="Patient">'
        f'<p class="pname">{esc(patient_name(patient))}</p><dl>{dl}</dl></section>'
    )


def trials_table(summary: Mapping[str, Any]) -> str:
    trials = [t for t in summary.get("trials") or [] if t.get("episode") == "current"]
    earlier = sum(1 for t in summary.get("trials") or [] if t.get("episode") != "current")
    if not trials:
        return ""
    rows = []
    for t in trials:
        dose = ""
        if t.get("max_daily_dose_mg") is not None:
            dose = f"max {num(t['max_daily_dose_mg'])} mg/day"
            if t.get("adequate_dose_mg") is not None:
                dose += f" (adequate ≥ {num(t['adequate_dose_mg'])})"
        elif t.get("sessions") is not None:
            dose = f"{t['sessions']} sessions"
        b, e = t.get("baseline_score"), t.get("end_score")
        scores = f"{b['scale']} {num(b['value'])} → {num(e['value'])}" if b and e else "—"
        reasons = "; ".join(str(r) for r in t.get("reasons") or [])
        rows.append(
            f'<tr><th scope="row">{esc(t.get("agent"))}'
            f'<span class="muted"> {esc(t.get("class") or t.get("kind"))}</span></th>'
            f"<td>{esc(t.get('start'))} to {esc(t.get('end'))}"
            f"{' (ongoing)' if t.get('ongoing') else ''}</td>"
            f"<td>{esc(dose or '—')}</td>"
            f'<td><span class="pill {esc(t.get("adequacy"))}">{esc(t.get("adequacy"))}</span>'
            f"{f' <span class=muted>{esc(reasons)}</span>' if reasons else ''}</td>"
            f"<td>{esc(t.get('outcome'))} <span class=muted>({esc(t.get('evidence'))})</span>"
            f"</td><td>{esc(scores)}</td></tr>"
        )
    note = (
        f'<p class="muted">{earlier} trial{"s" if earlier != 1 else ""} of earlier episodes not '
        "shown.</p>"
        if earlier
        else ""
    )
    return (
        '<details class="trials"><summary>Trials as a table</summary><div class="table-wrap">'
        '<table><thead><tr><th scope="col">Treatment</th><th scope="col">Dates</th>'
        '<th scope="col">Dose or sessions</th><th scope="col">Adequacy</th>'
        '<th scope="col">Outcome</th><th scope="col">Scores</th></tr></thead><tbody>'
        + "".join(rows)
        + f"</tbody></table></div>{note}</details>"
    )


def warnings_html(summary: Mapping[str, Any]) -> str:
    warnings = summary.get("warnings") or []
    if not warnings:
        return ""
    items = "".join(
        f"<li><code>{esc(w.get('code'))}</code> {esc(w.get('diagnostic'))} "
        f'<span class="muted">({esc(w.get("location"))})</span></li>'
        for w in warnings[:200]
    )
    return (
        '<section class="card"><details class="data-warnings">'
        f"<summary>{len(warnings)} data warning{'s' if len(warnings) != 1 else ''} "
        "(records that could not be fully read)</summary>"
        f"<ul>{items}</ul></details></section>"
    )


def episode_line(summary: Mapping[str, Any]) -> str:
    episode = summary.get("episode") or {}
    start = episode.get("start")
    months = episode.get("months")
    n = sum(1 for t in summary.get("trials") or [] if t.get("episode") == "current")
    if not start:
        return f"Episode start unknown · {n} treatment{'s' if n != 1 else ''} on record"
    return (
        f"Since {fmt_day(date.fromisoformat(start))}"
        + (f" ({months} months)" if months is not None else "")
        + f" · {n} treatment{'s' if n != 1 else ''} in this episode"
    )


# -- write-back ------------------------------------------------------------------------------------
def bundle_counts(bundle: Mapping[str, Any] | None) -> Counter[str]:
    counts: Counter[str] = Counter()
    for entry in (bundle or {}).get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict):
            counts[str(resource.get("resourceType"))] += 1
    return counts


def what_is_written(bundle: Mapping[str, Any] | None) -> str:
    counts = bundle_counts(bundle)
    parts = []
    for rtype, one, many in (
        ("CarePlan", "draft CarePlan (intent: proposal)", "draft CarePlans"),
        ("Observation", "Observation", "Observations (stages, trials, findings)"),
        ("Flag", "Flag for the urgent finding", "Flags for urgent findings"),
        ("Provenance", "Provenance", "Provenances"),
        ("Device", "Device (this software)", "Devices"),
    ):
        n = counts.get(rtype, 0)
        if n:
            parts.append(f"{n} {one if n == 1 else many}")
    return ", ".join(parts)


def missing_write_scopes(scopes: GrantedScopes) -> list[str]:
    return scopes.missing(WRITE_NEEDS)


def writeback_html(
    *,
    scopes: GrantedScopes,
    bundle: Mapping[str, Any] | None,
    problem: str | None,
    csrf: str,
    as_of: date,
    action: str,
) -> str:
    missing = missing_write_scopes(scopes)
    reason = ""
    if bundle is None:
        reason = f"Nothing can be written: {problem or 'no write-back Bundle'}."
    elif missing:
        reason = (
            "Writing is not possible: this launch was not granted "
            + ", ".join(missing)
            + ". Ask for write access, or launch the app again."
        )
    disabled = ' disabled aria-describedby="writeback-reason"' if reason else ""
    summary = what_is_written(bundle)
    return (
        f'<form method="post" action="{esc(action)}" id="writeback-form" class="writeback-form">'
        f'<input type="hidden" name="csrf_token" value="{esc(csrf)}">'
        f'<input type="hidden" name="as_of" value="{esc(as_of.isoformat())}">'
        '<p class="sub">Writes this assessment to the patient\'s record with your '
        "authorization: the suggestions as a <strong>draft</strong> CarePlan for review, and the "
        "staging results as Observations. Writing again adds nothing that is already there.</p>"
        + (f'<p class="muted">To be written: {esc(summary)}.</p>' if summary and not reason else "")
        + f'<button type="submit" id="writeback-button" class="primary"{disabled}>'
        "Write draft CarePlan and Observations to the record</button>"
        + (f'<p id="writeback-reason" class="reason">{esc(reason)}</p>' if reason else "")
        + '<div id="writeback-result" class="result" role="status" aria-live="polite"></div>'
        "</form>"
    )


def write_result_html(result: Mapping[str, Any]) -> str:
    """The result of a write, as HTML (the no-script path; app.js renders the same JSON)."""
    if not result.get("ok"):
        return f'<p class="error">{esc(result.get("message") or "The write failed.")}</p>'
    lists = []
    for key, label in (
        ("created", "Created"),
        ("updated", "Updated"),
        ("unchanged", "Already on the record"),
    ):
        refs: Sequence[str] = result.get(key) or []
        if refs:
            counts = Counter(str(r).split("/")[0] for r in refs)
            what = ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
            items = "".join(f"<li><code>{esc(r)}</code></li>" for r in refs)
            lists.append(
                f'<details class="refs"><summary>{esc(label)}: {esc(what)}</summary>'
                f'<ul class="refs">{items}</ul></details>'
            )
    return f'<p class="ok">{esc(result.get("message"))}</p>' + "".join(lists)


# -- the pages -------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class PageContext:
    assessment: Assessment
    summary: dict[str, Any]
    bundle: dict[str, Any] | None
    bundle_problem: str | None
    patient: dict[str, Any] | None
    patient_id: str
    maps: Mappings
    response_drop: float
    scopes: GrantedScopes
    csrf: str
    iss: str
    version: str
    static_url: str
    page_url: str
    writeback_url: str
    logout_url: str


def render_page(ctx: PageContext) -> str:
    a, s = ctx.assessment, ctx.summary
    urgent, findings = findings_html(s, ctx.maps)
    return template("smart_page.html").substitute(
        title=esc(f"TRD staging · {patient_name(ctx.patient)}"),
        static=esc(ctx.static_url),
        version=esc(ctx.version),
        page_url=esc(ctx.page_url),
        as_of=esc(a.as_of.isoformat()),
        as_of_text=esc(fmt_day(a.as_of)),
        banner=banner_html(ctx.patient, ctx.patient_id, a.as_of),
        urgent=urgent,
        episode_line=esc(episode_line(s)),
        timeline=timeline_svg(a, s, ctx.maps, ctx.response_drop),
        trials_table=trials_table(s),
        staging=staging_table(a, s),
        findings=findings,
        suggestions=suggestions_html(s),
        writeback=writeback_html(
            scopes=ctx.scopes,
            bundle=ctx.bundle,
            problem=ctx.bundle_problem,
            csrf=ctx.csrf,
            as_of=a.as_of,
            action=ctx.writeback_url,
        ),
        warnings=warnings_html(s),
        iss_host=esc(urlsplit(ctx.iss).netloc or ctx.iss),
        logout_url=esc(ctx.logout_url),
    )


def render_message(
    title: str,
    paragraphs: Sequence[str],
    *,
    static_url: str,
    kind: str = "error",
    action: tuple[str, str] | None = None,
    raw_html: str = "",
) -> str:
    """A page with a title, escaped paragraphs, optional trusted HTML and one link (our own
    paths only: never a URL taken from a request)."""
    body = "".join(f"<p>{esc(p)}</p>" for p in paragraphs) + raw_html
    link = (
        f'<p><a class="button" href="{esc(action[1])}">{esc(action[0])}</a></p>' if action else ""
    )
    return template("smart_message.html").substitute(
        title=esc(title), static=esc(static_url), kind=esc(kind), body=body, action=link
    )
