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
