"""The staging card's detail: GitHub-flavoured markdown with the staging table (every model,
its result, the upper bound where it differs, and why), the trials of the current episode, the
findings and the suggestions."""

from __future__ import annotations

import re
from typing import Any

from ..errors import printable
from ..report import stage_label
from ..staging import registry
from .engine import Evaluation

Json = dict[str, Any]


def result_text(name: str, value: Any) -> str:
    """One model's result in words: 'met', 'stage II', 'TRD1', '8 (moderate)', ... (its
    declaration's `card_result`)."""
    if not isinstance(value, dict):
        return str(value)
    spec = registry().find(name)
    return spec.card_result(value) if spec else str(value)


def bound_text(value: Any) -> str:
    if isinstance(value, bool):
        return "met" if value else "not met"
    if isinstance(value, float):
        return f"{value:g}"
    return "n/a" if value is None else str(value)


# Markdown that could make a link, an image (fetched by the EHR when the card shows), HTML, code
# or emphasis: escaped, because some text (unmapped codes' displays) comes from the record.
_MARKDOWN = re.compile(r"([\\`*_\[\]<>!|~])")


def cell(value: Any) -> str:
    """One line of card markdown showing `value` as text."""
    return _MARKDOWN.sub(r"\\\1", " ".join(printable(str(value)).split()))


def detail_markdown(summary: Json, ev: Evaluation) -> str:
    a = ev.assessment
    ep = summary["episode"]
    lines = [f"**TRD staging as of {summary['as_of']}**"]
    if ep["start"]:
        lines[0] += f" (current episode since {ep['start']}, {ep['months']} months)"
    lines += ["", "| Model | Result | Upper bound | Why |", "|---|---|---|---|"]
    explanations = summary.get("explanations", {})
    for name, result in a.stages.items():
        upper = a.upper_bound.get(name)
        shown = "" if name not in a.upper_bound or upper == result.headline else bound_text(upper)
        why = (explanations.get(name) or {}).get("text", result.explanation)
        row = (stage_label(name), result_text(name, result.value), shown, why)
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    trials = [t for t in summary["trials"] if t["episode"] == "current"]
    if trials:
        lines += ["", "**Trials in the current episode**", ""]
        lines += ["| Agent | Dates | Adequacy | Outcome |", "|---|---|---|---|"]
        for t in trials:
            adequacy = t["adequacy"] + (f" ({', '.join(t['reasons'])})" if t["reasons"] else "")
            dates = f"{t['start']} to {t['end']}" + (" (ongoing)" if t["ongoing"] else "")
            row = (t["agent"], dates, adequacy, f"{t['outcome']} ({t['evidence']})")
            lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    if summary["findings"]:
        lines += ["", "**Findings**", ""]
        lines += [
            f"- {f['severity']}: {cell(f['code'])}: {cell(f['detail'])} ({cell(f['source'])})"
            for f in summary["findings"]
        ]
    if summary["suggestions"]:
        lines += ["", "**Suggestions** (considerations for the clinician, not orders)", ""]
        for s in summary["suggestions"]:
            lines.append(f"- {cell(s['text'])}: {cell(s['reason'])} ({cell(s['source'])})")
            lines += [
                f"  - **Caution** ({cell(c['code'])}): {cell(c['text'])} ({cell(c['source'])})"
                for c in s.get("cautions") or []
            ]
            lines += [
                f"  - Step {p['step']} ({cell(p['timing'])}; only if {cell(p['condition'])}): "
                f"{cell(p['text'])}"
                for p in s.get("plan") or []
            ]
    if summary["warnings"]:
        lines += ["", f"_{len(summary['warnings'])} data warning(s); see the SMART app._"]
    return "\n".join(lines)


# -- the patient-view card at a glance -------------------------------------------------------------
GLANCE_MODELS = ("regulatory", "thase_rush", "maudsley")  # the headlines a clinician asks first
GLANCE_FINDINGS = 3  # urgent and warning findings named in the card; more are counted


def _headline(name: str, value: Any, upper: Any, differs: bool) -> str:
    if name == "regulatory" and isinstance(value, dict):
        if value.get("excluded_by"):
            return "excluded (bipolar on record)"
        n = value.get("failed_adequate_trials")
        trials = "" if n is None else f", {n} failed adequate trial{'s' if n != 1 else ''}"
        return ("yes" if value.get("met") else "no") + trials
    text = result_text(name, value)
    if differs:
        text += f" (up to {bound_text(upper)} if the indeterminate trials were adequate)"
    return text


def glance_markdown(summary: Json, ev: Evaluation, *, finding_texts: dict[str, str]) -> str:
    """The staging card's detail when the SMART app holds the full picture: a few lines a
    clinician takes in at a glance (the headline models, urgent then warning findings, how
    many suggestions and cautions), and where the full table is."""
    a = ev.assessment
    ep = summary["episode"]
    head = f"**As of {summary['as_of']}**"
    if ep["start"]:
        head += f" · current episode since {ep['start']} ({ep['months']} months)"
    lines = [head, ""]
    for name in GLANCE_MODELS:
        if name not in a.stages:
            continue
        result = a.stages[name]
        upper = a.upper_bound.get(name)
        differs = name in a.upper_bound and upper != result.headline
        label = "Regulatory TRD (FDA/EMA)" if name == "regulatory" else stage_label(name)
        lines.append(f"- {cell(label)}: **{cell(_headline(name, result.value, upper, differs))}**")
    order = {"urgent": 0, "warning": 1}
    findings = sorted(
        (f for f in summary["findings"] if f["severity"] in order),
        key=lambda f: order[f["severity"]],
    )
    for f in findings[:GLANCE_FINDINGS]:
        text = finding_texts.get(f["code"], f["code"])
        lines.append(f"- {'**Urgent**' if f['severity'] == 'urgent' else 'Warning'}: {cell(text)}")
    if len(findings) > GLANCE_FINDINGS:
        lines.append(f"- and {len(findings) - GLANCE_FINDINGS} more findings")
    n = len(summary["suggestions"])
    if n:
        lines.append(
            f"- {n} suggestion{'s' if n != 1 else ''} for the clinician (considerations, not "
            "orders)"
        )
    cautions = {  # a caution stays in sight wherever its suggestion is; each one once
        c["code"]: c["text"] for s in summary["suggestions"] for c in s.get("cautions") or []
    }
    lines += [f"- **Caution**: {cell(text)}" for text in cautions.values()]
    lines += [
        "",
        f"All {len(a.stages)} staging models, the trials, every finding and the reasons: "
        "open the SMART app below.",
    ]
    if summary["warnings"]:
        lines += ["", f"_{len(summary['warnings'])} data warning(s); see the SMART app._"]
    return "\n".join(lines)
