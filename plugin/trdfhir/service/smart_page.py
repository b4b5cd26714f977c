"""The SMART app's HTML: the clinician's page and the message pages (errors, results).

Server-rendered from Jinja2 templates in templates/ (autoescape on: every value is escaped by the
template engine). This module turns the assessment into plain values for them. No inline script
or style (the CSP forbids both): behaviour is in static/app.js, looks in static/app.css.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup

from ..assessment import Assessment
from ..auth.smart import WRITE_NEEDS, GrantedScopes
from ..mappings import Mappings
from ..staging import registry
from ..staging.base import page_upper
from .markup import fmt_day, num, plural, render, words
from .smart_timeline import timeline_svg

SEVERITY_ORDER = {"urgent": 0, "warning": 1, "info": 2}
SEVERITY_LABEL = {"urgent": "Urgent", "warning": "Warning", "info": "Note"}


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


def staging_rows(assessment: Assessment, summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per model: its name, result in words, why, and the upper bound where it differs."""
    explanations: Mapping[str, Any] = summary.get("explanations") or {}
    upper: Mapping[str, Any] = summary.get("upper_bound") or {}
    rows = []
    for name, value in (summary.get("stages") or {}).items():
        explanation = explanations.get(name) or {}
        headline = assessment.stages[name].headline if name in assessment.stages else None
        differs = name in upper and upper[name] != headline
        rows.append(
            {
                "name": name,
                "label": model_label(name),
                "result": stage_result(name, value),
                "why": explanation.get("text") or "",
                "source": explanation.get("source") or "",
                "upper": upper_text(name, upper[name]) if differs else None,
            }
        )
    return rows


# -- findings and suggestions ----------------------------------------------------------------------
def finding_view(f: Mapping[str, Any], maps: Mappings) -> dict[str, Any]:
    code = str(f.get("code"))
    severity = str(f.get("severity") or "info")
    info = maps.findings.get(code)
    title = info.text if info else words(code)
    detail = f.get("detail") or ""
    return {
        "code": code,
        "severity": severity,
        "label": SEVERITY_LABEL.get(severity, severity),
        "title": title,
        "detail": detail if detail and detail != title else "",
        "source": f.get("source") or "—",
    }


def findings_views(
    summary: Mapping[str, Any], maps: Mappings
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the urgent findings, the others), each most severe first."""
    items = sorted(
        summary.get("findings") or [],
        key=lambda f: SEVERITY_ORDER.get(str(f.get("severity")), 3),
    )
    urgent = [finding_view(f, maps) for f in items if f.get("severity") == "urgent"]
    rest = [finding_view(f, maps) for f in items if f.get("severity") != "urgent"]
    return urgent, rest


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


def banner_fields(patient: Mapping[str, Any] | None, patient_id: str, as_of: date) -> list[Any]:
    birth = (patient or {}).get("birthDate")
    age = age_on(birth, as_of)
    gender = (patient or {}).get("gender")
    born = "unknown"
    if isinstance(birth, str):
        born = fmt_day(birth) + (f" ({age} y)" if age is not None else "")
    return [
        ("Born", born),
        ("Sex", str(gender) if isinstance(gender, str) else "unknown"),
        ("Patient id", patient_id),
    ]


def trial_rows(summary: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """(the current episode's trials as table rows, the count of earlier episodes' trials)."""
    trials = [t for t in summary.get("trials") or [] if t.get("episode") == "current"]
    earlier = sum(1 for t in summary.get("trials") or [] if t.get("episode") != "current")
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
        rows.append(
            {
                "agent": t.get("agent"),
                "kind": t.get("class") or t.get("kind"),
                "dates": f"{fmt_day(t.get('start'))} to {fmt_day(t.get('end'))}"
                + (" (ongoing)" if t.get("ongoing") else ""),
                "dose": dose or "—",
                "adequacy": t.get("adequacy"),
                "reasons": "; ".join(str(r) for r in t.get("reasons") or []),
                "outcome": t.get("outcome"),
                "evidence": t.get("evidence"),
                "scores": f"{b['scale']} {num(b['value'])} → {num(e['value'])}" if b and e else "—",
            }
        )
    return rows, earlier


def episode_line(summary: Mapping[str, Any]) -> str:
    episode = summary.get("episode") or {}
    start = episode.get("start")
    months = episode.get("months")
    n = sum(1 for t in summary.get("trials") or [] if t.get("episode") == "current")
    if not start:
        return f"Episode start unknown · {plural(n, 'treatment')} on record"
    return (
        f"Since {fmt_day(start)}"
        + (f" ({months} months)" if months is not None else "")
        + f" · {plural(n, 'treatment')} in this episode"
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


def writeback_reason(
    scopes: GrantedScopes, bundle: Mapping[str, Any] | None, problem: str | None
) -> str:
    """Why the write button is disabled ('' when it is not)."""
    missing = missing_write_scopes(scopes)
    if bundle is None:
        return f"Nothing can be written: {problem or 'no write-back Bundle'}."
    if missing:
        return (
            "Writing is not possible: this launch was not granted "
            + ", ".join(missing)
            + ". Ask for write access, or launch the app again."
        )
    return ""


def write_result_lists(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The references a write created, updated or found already there, grouped for the page."""
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
            lists.append({"label": label, "what": what, "refs": [str(r) for r in refs]})
    return lists


def write_result_html(result: Mapping[str, Any], *, back_url: str | None = None) -> Markup:
    """The result of a write, as HTML (the no-script path; app.js renders the same JSON)."""
    return Markup(  # noqa: S704 (rendered by the autoescaping environment)
        render(
            "write_result.html",
            ok=bool(result.get("ok")),
            message=result.get("message") or ("" if result.get("ok") else "The write failed."),
            lists=write_result_lists(result) if result.get("ok") else [],
            back_url=back_url,
        )
    )


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
    # the token response's need_patient_banner: False inside an EHR that shows its own banner
    show_banner: bool = True


def render_page(ctx: PageContext) -> str:
    a, s = ctx.assessment, ctx.summary
    urgent, findings = findings_views(s, ctx.maps)
    trials, earlier = trial_rows(s)
    reason = writeback_reason(ctx.scopes, ctx.bundle, ctx.bundle_problem)
    return render(
        "smart_page.html",
        title=f"TRD staging · {patient_name(ctx.patient)}",
        static=ctx.static_url,
        version=ctx.version,
        page_url=ctx.page_url,
        as_of=a.as_of,
        show_banner=ctx.show_banner,
        patient_name=patient_name(ctx.patient),
        banner=banner_fields(ctx.patient, ctx.patient_id, a.as_of),
        urgent=urgent,
        findings=findings,
        episode_line=episode_line(s),
        timeline=Markup(timeline_svg(a, s, ctx.maps, ctx.response_drop)),  # noqa: S704 (a template's output)
        trials=trials,
        earlier=earlier,
        staging=staging_rows(a, s),
        suggestions=s.get("suggestions") or [],
        csrf=ctx.csrf,
        writeback_url=ctx.writeback_url,
        to_be_written=what_is_written(ctx.bundle) if not reason else "",
        writeback_reason=reason,
        warnings=(s.get("warnings") or [])[:200],
        warning_count=len(s.get("warnings") or []),
        iss_host=urlsplit(ctx.iss).netloc or ctx.iss,
        logout_url=ctx.logout_url,
    )


def render_message(
    title: str,
    paragraphs: Sequence[str],
    *,
    static_url: str,
    kind: str = "error",
    action: tuple[str, str] | None = None,
    raw_html: Markup | str = "",
) -> str:
    """A page with a title, escaped paragraphs, optional trusted markup (a Markup from a
    template; a plain str is escaped) and one link (our own paths only: never a URL taken from
    a request)."""
    return render(
        "smart_message.html",
        title=title,
        static=static_url,
        kind=kind,
        paragraphs=paragraphs,
        extra=raw_html,
        action=action,
    )
