"""Exposures and sessions -> treatment trials: merged drug trials with dose steps, procedure
courses, augmentation and combination links. Pure; see docs/rules.md "Trials"."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from itertools import pairwise

from .limits import checkpoint
from .mappings import Mappings
from .model import Course, DoseStep, Episode, Exposure, Record, Session, Trial
from .settings import Settings

_ONE_DAY = timedelta(days=1)
_KIND_ORDER = {
    "antidepressant": 0,
    "augmentation": 1,
    "psychotherapy": 2,
    "ect": 3,
    "rtms": 4,
    "esketamine": 5,
    "ketamine": 6,
}


def build_trials(
    record: Record, episode: Episode, maps: Mappings, settings: Settings, as_of: date
) -> list[Trial]:
    drug_trials = _drug_trials(record, maps, settings, as_of)
    courses = _courses(record.sessions, maps, settings, as_of)
    courses += [_recorded_course(c, maps, as_of) for c in record.courses]
    trials = sorted([*drug_trials, *courses], key=lambda t: (t.start, _KIND_ORDER[t.kind], t.agent))
    trials = [dataclasses.replace(t, id=f"t{i}") for i, t in enumerate(trials, start=1)]
    trials = _attach_not_taken(record, trials)
    trials = _link_augmentation(trials, maps, settings)
    trials = _link_combinations(trials, settings)
    if episode.start is not None:
        start = episode.start
        earliest = start - timedelta(days=settings.episode_start_grace_days)
        trials = [
            dataclasses.replace(t, in_current_episode=t.start >= earliest or t.end > start)
            for t in trials
        ]
    return trials


# -- drug trials -------------------------------------------------------------------------------


def _end(e: Exposure) -> date:
    return e.end or e.start + _ONE_DAY


def _drug_trials(record: Record, maps: Mappings, settings: Settings, as_of: date) -> list[Trial]:
    groups: dict[tuple[str, str], list[Exposure]] = defaultdict(list)
    for e in record.exposures:
        if e.role in ("antidepressant", "augmentation") and not e.not_taken:
            groups[(e.role, e.ingredient)].append(e)
    trials = []
    for (role, _ingredient), exposures in sorted(groups.items()):
        for cluster in _clusters(sorted(exposures, key=lambda e: (e.start, _end(e))), settings):
            checkpoint("building trials")
            trials.append(_drug_trial(role, cluster, record, maps, settings, as_of))
    return trials


def not_taken_claims(
    record: Record, trials: Sequence[Trial]
) -> list[tuple[Exposure, Trial | None]]:
    """Each `not-taken` claim with the trial of the same drug it falls in (None: the drug was
    never taken at that time). A claim that a drug was not taken is adherence evidence, never a
    trial of its own."""
    out = []
    for e in record.exposures:
        if e.not_taken:
            host = next(
                (
                    t
                    for t in trials
                    if t.agent == e.ingredient and e.start < t.end and _end(e) > t.start
                ),
                None,
            )
            out.append((e, host))
    return out


def _clusters(exposures: list[Exposure], settings: Settings) -> list[list[Exposure]]:
    clusters: list[list[Exposure]] = []
    cluster_end: date | None = None
    for e in exposures:
        if cluster_end is not None and (e.start - cluster_end).days <= settings.trial_gap_days:
            clusters[-1].append(e)
            cluster_end = max(cluster_end, _end(e))
        else:
            clusters.append([e])
            cluster_end = _end(e)
    return clusters


def _drug_trial(
    role: str,
    cluster: list[Exposure],
    record: Record,
    maps: Mappings,
    settings: Settings,
    as_of: date,
) -> Trial:
    first = cluster[0]
    drug = maps.drugs_by_name[first.ingredient]
    start, end = first.start, max(_end(e) for e in cluster)
    steps = _dose_steps(cluster)
    minimum = drug.min_adequate_mg if role == "antidepressant" else None
    days_at = sum(
        (s.end - s.start).days
        for s in steps
        if minimum is not None and s.daily_dose_mg is not None and s.daily_dose_mg >= minimum
    )
    unknown = sum((s.end - s.start).days for s in steps if s.daily_dose_mg is None)
    last = [e for e in cluster if _end(e) == end]
    resources = tuple(sorted({e.resource for e in cluster}))
    non_adherence, known, pdc = _adherence(cluster, record, start, end, settings)
    return Trial(
        id="",
        kind="antidepressant" if role == "antidepressant" else "augmentation",
        agent=first.ingredient,
        drug_class=drug.drug_class,
        start=start,
        end=end,
        ongoing=any(e.ongoing for e in last),
        duration_known=any(e.end is not None for e in cluster),
        dose_steps=steps,
        adequate_dose_mg=minimum,
        days_at_adequate_dose=days_at if minimum is not None else None,
        days_unknown_dose=unknown,
        stop_reason=next((e.stop_reason for e in last if e.stop_reason), None),
        non_adherence=non_adherence,
        adherence_known=known,
        pdc=pdc,
        matched_by="name" if any(e.matched_by == "name" for e in cluster) else "code",
        resources=resources,
        assumptions=tuple(sorted({e.assumed_end for e in cluster if e.assumed_end})),
    )


def _dose_steps(cluster: list[Exposure]) -> tuple[DoseStep, ...]:
    """Day-level dose timeline: highest known dose of the exposures covering each segment."""
    bounds = sorted({b for e in cluster for b in (e.start, _end(e))})
    steps: list[DoseStep] = []
    for seg_start, seg_end in pairwise(bounds):
        checkpoint("building trials")
        covering = [e for e in cluster if e.start <= seg_start < _end(e)]
        if covering:
            known = [e.daily_dose_mg for e in covering if e.daily_dose_mg is not None]
            dose = max(known) if known else None
        elif _touches_point_claim(cluster, seg_start, seg_end):
            dose = None  # between point claims: on the drug, dose unknown
        else:
            continue  # a gap off the drug
        if steps and steps[-1].end == seg_start and steps[-1].daily_dose_mg == dose:
            steps[-1] = DoseStep(start=steps[-1].start, end=seg_end, daily_dose_mg=dose)
        else:
            steps.append(DoseStep(start=seg_start, end=seg_end, daily_dose_mg=dose))
    return tuple(steps)


def _touches_point_claim(cluster: list[Exposure], seg_start: date, seg_end: date) -> bool:
    before = max((e for e in cluster if _end(e) <= seg_start), key=_end, default=None)
    after = min((e for e in cluster if e.start >= seg_end), key=lambda e: e.start, default=None)
    return (before is not None and before.end is None) or (after is not None and after.end is None)


def _adherence(
    cluster: list[Exposure], record: Record, start: date, end: date, settings: Settings
) -> tuple[tuple[str, ...], bool, float | None]:
    """Resources documenting non-adherence, whether adherence is known, and the PDC."""
    refs = {e.resource for e in cluster}
    evidence = {
        e.resource
        for e in cluster
        if e.adherence == "non-adherent" or e.stop_reason == "non-adherence"
    }
    known = bool(evidence) or any(e.adherence is not None for e in cluster)
    for note in record.adherence:
        about = bool(set(note.focus) & refs) if note.focus else start <= note.day < end
        if about:
            known = True
            if not note.adherent:
                evidence.add(note.resource)
    dispenses = [e for e in cluster if e.source_type == "dispense" and e.end is not None]
    pdc = None
    if dispenses:
        # Over the dispensing window only: statements or orders around it say nothing of supply.
        first = min(e.start for e in dispenses)
        last = min(max(_end(e) for e in dispenses), end)
        covered = {
            e.start + timedelta(days=i) for e in dispenses for i in range((_end(e) - e.start).days)
        }
        days = max((last - first).days, 1)
        pdc = round(len([d for d in covered if first <= d < last]) / days, 3)
        known = True
        if pdc < settings.pdc_min:
            evidence.update(e.resource for e in dispenses)
    return tuple(sorted(evidence)), known, pdc


def _attach_not_taken(record: Record, trials: list[Trial]) -> list[Trial]:
    by_id = {t.id: t for t in trials}
    for claim, host in not_taken_claims(record, trials):
        if host is not None:
            t = by_id[host.id]
            by_id[host.id] = dataclasses.replace(
                t,
                non_adherence=tuple(sorted({*t.non_adherence, claim.resource})),
                adherence_known=True,
                resources=tuple(sorted({*t.resources, claim.resource})),
            )
    return [by_id[t.id] for t in trials]


# -- procedure courses -------------------------------------------------------------------------


def _courses(
    sessions: Sequence[Session], maps: Mappings, settings: Settings, as_of: date
) -> list[Trial]:
    by_kind: dict[str, list[Session]] = defaultdict(list)
    for s in sessions:
        by_kind[s.kind].append(s)
    trials = []
    for kind, items in sorted(by_kind.items()):
        gap = (
            settings.psychotherapy_session_gap_days
            if kind == "psychotherapy"
            else settings.procedure_course_gap_days
        )
        course: list[Session] = []
        for s in sorted(items, key=lambda s: s.day):
            if course and (s.day - course[-1].day).days > gap:
                trials.append(_course(kind, course, maps, gap, as_of))
                course = []
            course.append(s)
        if course:
            trials.append(_course(kind, course, maps, gap, as_of))
    return trials


_COURSE_AGENT = {
    "ect": "ECT",
    "rtms": "rTMS",
    "esketamine": "esketamine",
    "ketamine": "IV ketamine",
}


def _course(kind: str, course: list[Session], maps: Mappings, gap: int, as_of: date) -> Trial:
    days = sorted({s.day for s in course})
    modality = laterality = None
    evidence_based = None
    if kind == "psychotherapy":
        counts = Counter(s.modality for s in course if s.modality)
        if counts:
            modality = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            evidence_based = maps.modalities.get(modality)
        agent = (
            f"psychotherapy ({maps.modality_labels.get(modality, modality)})"
            if modality
            else "psychotherapy (modality unspecified)"
        )
    else:
        agent = _COURSE_AGENT[kind]
        lats = {s.laterality for s in course}
        laterality = (
            "bilateral"
            if "bilateral" in lats
            else ("right-unilateral" if "right-unilateral" in lats else None)
        )
    return Trial(
        id="",
        kind=kind,  # type: ignore[arg-type]
        agent=agent,
        start=days[0],
        end=days[-1] + _ONE_DAY,
        ongoing=(as_of - days[-1]).days <= gap,
        sessions=len(days),
        modality=modality,
        evidence_based=evidence_based,
        laterality=laterality,
        resources=tuple(sorted({s.resource for s in course})),
    )


def _recorded_course(course: Course, maps: Mappings, as_of: date) -> Trial:
    """A course recorded without its sessions (a CarePlan activity): sessions unknown (None),
    so its adequacy is indeterminate; with no recorded end, its duration is unknown too."""
    label = maps.modality_labels.get(course.modality or "", course.modality)
    known_end = course.end is not None
    end = min(course.end, as_of + _ONE_DAY) if course.end else course.start + _ONE_DAY
    return Trial(
        id="",
        kind=course.kind,
        agent=f"psychotherapy ({label})" if label else "psychotherapy (modality unspecified)",
        start=course.start,
        end=max(end, course.start + _ONE_DAY),
        ongoing=False,
        duration_known=known_end,
        sessions=None,
        modality=course.modality,
        evidence_based=maps.modalities.get(course.modality) if course.modality else None,
        resources=(course.resource,),
    )


# -- links between trials ----------------------------------------------------------------------


def _overlap(a: Trial, b: Trial) -> int:
    return max(0, (min(a.end, b.end) - max(a.start, b.start)).days)


def _link_augmentation(trials: list[Trial], maps: Mappings, settings: Settings) -> list[Trial]:
    by_id = {t.id: t for t in trials}
    antidepressants = [t for t in trials if t.kind == "antidepressant"]
    for aug in [t for t in trials if t.kind == "augmentation"]:
        group = maps.drugs_by_name[aug.agent].group
        need = (
            settings.lithium_augmentation_min_days
            if group == "lithium"
            else settings.augmentation_min_days
        )
        # Augmentation is an agent ADDED to a running antidepressant: one already taken when the
        # antidepressant started is not augmentation of it.
        hosts = [ad for ad in antidepressants if ad.start < aug.start]
        best = max(hosts, key=lambda ad: (_overlap(aug, ad), ad.start), default=None)
        overlap = _overlap(aug, best) if best else 0
        attached = best is not None and overlap >= need
        by_id[aug.id] = dataclasses.replace(
            aug,
            augmentation_overlap_days=overlap,
            attached_to=best.id if attached and best else None,
        )
        if attached and best is not None:
            host = by_id[best.id]
            by_id[best.id] = dataclasses.replace(host, augmented_by=(*host.augmented_by, aug.agent))
    return [by_id[t.id] for t in trials]


def _link_combinations(trials: list[Trial], settings: Settings) -> list[Trial]:
    partners: dict[str, list[str]] = defaultdict(list)
    added: set[str] = set()  # trials another antidepressant was added on top of
    antidepressants = [t for t in trials if t.kind == "antidepressant"]
    for i, a in enumerate(antidepressants):
        checkpoint("building trials")
        for b in antidepressants[i + 1 :]:
            if a.agent != b.agent and _overlap(a, b) >= settings.combination_min_days:
                partners[a.id].append(b.agent)
                partners[b.id].append(a.agent)
                if a.start != b.start:
                    added.add(a.id if a.start < b.start else b.id)
    return [
        dataclasses.replace(
            t,
            combined_with=tuple(sorted(set(partners[t.id]))),
            combination_added=t.id in added,
        )
        if t.id in partners
        else t
        for t in trials
    ]
