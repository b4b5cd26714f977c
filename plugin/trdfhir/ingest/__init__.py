"""Ingest: FHIR resources as plain dicts -> a Record of the domain model (no pydantic here)."""

from __future__ import annotations

from datetime import date
from typing import Any

from ..fhir.values import ref_of
from ..mappings import Mappings
from ..model import Record
from ..settings import Settings
from .bundle import build_resource_set
from .clinical import read_careplans, read_conditions, read_procedures, undated_episode_warnings
from .medications import read_medications
from .observations import read_observations
from .patient import read_death


def read_record(
    data: Any,
    maps: Mappings,
    as_of: date,
    *,
    settings: Settings | None = None,
    well_formed: frozenset[int] = frozenset(),
) -> Record:
    """Read a Bundle, a list of resources or one resource for one patient. `settings`: the
    evaluation's settings (default: those of the mappings). `well_formed`: the `id()`s of
    resources whose shape limits.check_input has checked already."""
    rs = build_resource_set(data, well_formed)
    death = read_death(rs, as_of)
    meds = read_medications(rs, maps, as_of, death.day, settings=settings)
    obs = read_observations(rs, maps, as_of)
    sessions, proc_warnings = read_procedures(rs, maps, as_of)
    courses, plan_warnings = read_careplans(rs, maps, as_of)
    diagnoses = read_conditions(rs, maps, as_of)
    return Record(
        patient=rs.patient,
        exposures=tuple(sorted(meds.exposures, key=lambda e: (e.start, e.ingredient, e.resource))),
        sessions=tuple(sorted([*meds.sessions, *sessions], key=lambda s: (s.day, s.resource))),
        scores=tuple(obs.scores),
        labs=tuple(sorted(obs.labs, key=lambda lab: (lab.day, lab.resource))),
        diagnoses=tuple(diagnoses),
        adherence=tuple(sorted(obs.adherence, key=lambda a: (a.day, a.resource))),
        markers=tuple(sorted(obs.markers, key=lambda m: (m.day, m.kind, m.resource))),
        functional=tuple(sorted(obs.functional, key=lambda f: (f.day, f.scale, f.resource))),
        item9=tuple(obs.item9),
        unmapped=tuple(meds.unmapped),
        warnings=tuple(
            [
                *rs.warnings,
                *death.warnings,
                *meds.warnings,
                *obs.warnings,
                *proc_warnings,
                *plan_warnings,
                *undated_episode_warnings(diagnoses),
            ]
        ),
        inputs=tuple(sorted({ref_of(r) for r, _ in rs.resources if "id" in r})),
        courses=tuple(sorted(courses, key=lambda c: (c.start, c.resource))),
        deceased=death.deceased,
        death=death.day,
    )


__all__ = ["read_record"]
