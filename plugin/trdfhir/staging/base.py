"""What every staging model receives and declares, and the helpers they share.

A model is one module, `staging/<name>.py`, that computes `stage(ctx) -> StageResult` and declares
everything the edges show of it in one `ModelSpec` named `SPEC`: its name and source, whether an
upper bound is reported, its labels, its FHIR code and how its value becomes an Observation, its
words on the SMART page, in the text report and the CDS card, its CSV columns and its TRD
threshold. The registry in `staging/__init__.py` lists the specs; every consumer reads from it.
The upper bound is the same model run on a context whose `optimistic` flag counts indeterminate
trials as adequate.

The FHIR part takes a `FhirKit` (implemented in `emit/stages.py`) so that no staging module imports
`emit/`: the model says which codes and values, emit builds the resources.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from ..mappings import Mappings
from ..model import AssessedTrial, Episode, Record, StageResult, Trial
from ..settings import Settings


@dataclass(frozen=True, kw_only=True)
class StagingContext:
    trials: tuple[AssessedTrial, ...]  # current episode only, in start order
    earlier_trials: tuple[AssessedTrial, ...]  # trials of earlier episodes
    episode: Episode
    record: Record
    mappings: Mappings
    settings: Settings
    as_of: date
    loss_of_effect: tuple[str, ...] = ()  # ids of trials with loss of effect
    rechallenge_failures: tuple[str, ...] = ()  # ids of trials failing on rechallenge
    optimistic: bool = False  # upper-bound pass

    def counts_as_adequate(self, t: AssessedTrial) -> bool:
        status = t.adequacy.status
        return status == "adequate" or (self.optimistic and status == "indeterminate")

    def is_failure(self, t: AssessedTrial) -> bool:
        """A failure outcome that this evaluation counts (inferred ones unless disabled)."""
        outcome = t.outcome
        failed = outcome.status in ("non-response", "worsening") or (
            outcome.status == "partial" and self.settings.partial_counts_as_failure
        )
        if not failed:
            return False
        return outcome.evidence != "inferred" or self.settings.count_inferred_failures

    def counted_failure(self, t: AssessedTrial) -> bool:
        return self.counts_as_adequate(t) and self.is_failure(t)

    def counted_failures(self, *kinds: str) -> list[AssessedTrial]:
        """Failures of adequate trials (of the given kinds) in the current episode."""
        return [
            t
            for t in self.trials
            if (not kinds or t.trial.kind in kinds)
            and self.counts_as_adequate(t)
            and self.is_failure(t)
        ]

    def has_diagnosis(self, *categories: str) -> bool:
        """An active diagnosis of these categories (as the complexity findings count them)."""
        return any(d.category in categories and d.active for d in self.record.diagnoses)

    def in_episode(self, day: date) -> bool:
        """Dated in the current episode and not after the as-of date; with an unknown episode
        start, within `lab_lookback_days` of the as-of date."""
        if day > self.as_of:
            return False
        if self.episode.start is not None:
            return day >= self.episode.start
        return (self.as_of - day).days <= self.settings.lab_lookback_days

    def markers_in_episode(self, kind: str) -> list[str]:
        """Resources of markers of this kind dated in the episode (see `in_episode`)."""
        return [
            m.resource for m in self.record.markers if m.kind == kind and self.in_episode(m.day)
        ]


def classes(trials: Iterable[AssessedTrial]) -> set[str]:
    return {t.trial.drug_class or "other" for t in trials}


def ids(trials: Iterable[AssessedTrial]) -> tuple[str, ...]:
    return tuple(t.trial.id for t in trials)


def group_of(trial: Trial) -> str:
    """The class a trial is grouped under in explanations: the drug class, else the kind."""
    if trial.kind == "antidepressant":
        return trial.drug_class or "other"
    return {"ect": "ECT", "rtms": "rTMS"}.get(trial.kind, trial.kind)


def detail_of(trial: Trial) -> str:
    """'sertraline'; 'cbt, 12 sessions'; '12 sessions' (ECT)."""
    if trial.kind not in ("psychotherapy", "ect", "rtms", "esketamine", "ketamine"):
        return trial.agent
    parts = [trial.modality or "modality unspecified"] if trial.kind == "psychotherapy" else []
    if trial.sessions is not None:
        parts.append(f"{trial.sessions} sessions")
    return ", ".join(parts)


def join_words(words: Iterable[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def describe(trials: Iterable[AssessedTrial]) -> str:
    """'SSRI (sertraline, escitalopram) and SNRI (venlafaxine)', grouped in first-seen order."""
    groups: dict[str, list[str]] = {}
    for t in trials:
        detail = detail_of(t.trial)
        groups.setdefault(group_of(t.trial), []).append(detail)
    return join_words(
        f"{name} ({', '.join(d for d in details if d)})" if any(details) else name
        for name, details in groups.items()
    )


def overlaps(a: Trial, b: Trial) -> bool:
    """Half-open intervals share at least one day."""
    return a.start < b.end and b.start < a.end


# -- the declaration of a model ------------------------------------------------------------------
Json = dict[str, Any]
Parts = tuple[Json, list[Json], list[Json]]  # value[x] fields, components, interpretation
StageValue = Mapping[str, Any] | str  # a StageResult.value as the summary carries it


class FhirKit(Protocol):
    """What a model's `fhir` function may use to build its Observation (emit/ implements it)."""

    def component(self, code: str, value: Any = None, *, fields: Json | None = None) -> Json: ...

    def concept(self, code: str) -> Json: ...

    def absent(self, reason: str) -> Json: ...

    def quantity(self, value: float, unit: str) -> Json: ...

    def known(self, code: str) -> bool:
        """Whether `code` is a concept of the project's CodeSystem."""
        ...


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """Everything about one staging model. Every field is required (no defaults), so a model
    module that lacks a part fails when it is imported."""

    name: str  # key of the contract's `stages` object
    source: str  # the citation shown with every result
    stage: Callable[[StagingContext], StageResult]
    upper_bound: bool  # whether the headline is reported under `upper_bound`
    code_display: str  # display of the model's concept in the trd-fhir CodeSystem
    concepts: Mapping[str, tuple[str, str]]  # extra CodeSystem concepts: code -> (display, group)
    page_label: str  # heading on the SMART page
    report_label: str  # first column of the text report and the card's staging table
    page_result: Callable[[StageValue], str]  # the result in words on the SMART page
    page_upper: Callable[[Any], str]  # the upper bound in words on the SMART page
    report_value: Callable[[StageValue], Any]  # the value the text report formats
    card_result: Callable[[StageValue], str]  # the result in the card's staging table
    card_headline: Callable[[Mapping[str, Any]], str] | None  # its part of the card's summary line
    fhir: Callable[[StageValue, FhirKit], Parts]  # value[x], components, interpretation
    csv_keys: tuple[str, ...]  # CSV columns: `name`, then `name_<key>` for the keys after the first
    csv_cells: Callable[[StageValue | None], Sequence[object]]  # one cell per `csv_keys` entry
    trd_met: Callable[[Mapping[str, Any]], bool] | None  # the TRD threshold; None: not a TRD test

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or keyword.iskeyword(self.name):
            raise ValueError(f"staging model name '{self.name}' is not a lower-case identifier")
        if self.name != self.name.lower():
            raise ValueError(f"staging model name '{self.name}' is not a lower-case identifier")
        for label, text in (
            ("source", self.source),
            ("code_display", self.code_display),
            ("page_label", self.page_label),
            ("report_label", self.report_label),
        ):
            if not text.strip():
                raise ValueError(f"staging model '{self.name}' has an empty {label}")
        if not self.csv_keys:
            raise ValueError(f"staging model '{self.name}' declares no CSV column")

    @property
    def code(self) -> str:
        """The model's code in the trd-fhir CodeSystem: `thase_rush` -> `thase-rush`."""
        return self.name.replace("_", "-")

    @property
    def csv_columns(self) -> tuple[str, ...]:
        return tuple(
            self.name if i == 0 else f"{self.name}_{k}" for i, k in enumerate(self.csv_keys)
        )


# -- shared parts of the declarations ------------------------------------------------------------
def num(value: float | None) -> str:
    """'8', '2.5'; '?' when unknown."""
    return "?" if value is None else f"{value:g}"


def words(code: str) -> str:
    """'not-applicable' -> 'Not applicable'."""
    text = code.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def as_mapping(value: StageValue | None) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_int(value: Any) -> int:
    """An integer value, else 0 (booleans are not counted)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def page_upper(value: Any) -> str:
    """The SMART page's words for an upper bound: 'Met' / 'Not met', a number, or a dash."""
    if isinstance(value, bool):
        return "Met" if value else "Not met"
    if isinstance(value, int | float):
        return num(value)
    return "—"


def same_value(value: StageValue) -> Any:
    return value


def keyed_cells(*keys: str) -> Callable[[StageValue | None], Sequence[object]]:
    """CSV cells that are these keys of the stage value (empty when the value is not an object)."""

    def cells(value: StageValue | None) -> Sequence[object]:
        v = value if isinstance(value, Mapping) else {}
        return [v.get(k) for k in keys]

    return cells


def page_score(value: Any) -> str:
    return "Not scored" if value is None else num(value)


def card_score(v: Mapping[str, Any]) -> str:
    """'8 (moderate)', '3.5', 'n/a', with ' (provisional)' when so flagged."""
    score = v.get("score")
    shown = "n/a" if score is None else f"{score:g}" if isinstance(score, float) else str(score)
    if v.get("category"):
        shown += f" ({v['category']})"
    if v.get("provisional"):
        shown += " (provisional)"
    return shown


def fhir_score(v: Mapping[str, Any], kit: FhirKit) -> Json:
    """value[x] of a score: a Quantity, else absent (not-applicable or unknown)."""
    score = v.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float):
        return kit.absent("not-applicable" if v.get("category") == "not-applicable" else "unknown")
    return {"valueQuantity": kit.quantity(score, "{score}")}


def fhir_category(kit: FhirKit, code: str) -> Json:
    """value[x] of a coded category: the concept, else absent (unknown)."""
    return {"valueCodeableConcept": kit.concept(code)} if kit.known(code) else kit.absent("unknown")


def fhir_met(kit: FhirKit, met: Any) -> list[Json]:
    """interpretation of a met/not met definition."""
    return [kit.concept("criterion-met" if met else "criterion-not-met")]


def fhir_stage(v: Mapping[str, Any], kit: FhirKit) -> Parts:
    """An integer stage with the failed trials and classes it counted (Thase-Rush, Conway)."""
    stage = v.get("stage")
    parts = []
    if "failed_trials" in v:
        parts.append(kit.component("failed-adequate-trials", v["failed_trials"]))
    if v.get("classes"):
        parts.append(kit.component("failed-classes", ", ".join(map(str, v["classes"]))))
    value = {"valueInteger": stage} if isinstance(stage, int) else kit.absent("unknown")
    return value, parts, []


def card_met(v: Mapping[str, Any]) -> str:
    """'met', 'not met (excluded: bipolar on record)', 'not met (missing: ...)'."""
    text = "met" if v.get("met") else "not met"
    if v.get("excluded_by"):
        text += " (excluded: bipolar on record)"
    if v.get("missing"):
        text += f" (missing: {', '.join(v['missing'])})"
    return text


def card_stage(v: Mapping[str, Any]) -> str:
    return f"stage {v.get('roman', v.get('stage'))}"
