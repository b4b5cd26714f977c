"""Patient -> whether and when the patient died (Patient.deceased[x]).

`deceasedDateTime` gives the date of death. `deceasedBoolean: true` says the patient has died
without a date: the patient is taken as deceased at an unknown date, with a warning
`deceased-no-date` (nothing is clipped at a date nobody recorded). `deceasedBoolean: false`, or
no deceased[x], is a living patient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ..fhir.values import parse_date, ref_of
from ..model import DataWarning
from .bundle import ResourceSet


@dataclass(frozen=True, kw_only=True)
class Death:
    deceased: bool = False
    day: date | None = None
    warnings: tuple[DataWarning, ...] = field(default=())


def read_death(rs: ResourceSet, as_of: date) -> Death:
    for r, _loc in rs.resources:
        if r.get("resourceType") != "Patient" or ref_of(r) != rs.patient:
            continue
        ref = ref_of(r)
        if "deceasedDateTime" in r:
            day, _precise = parse_date(r.get("deceasedDateTime"))
            if day is None:
                return _no_date(ref, "deceasedDateTime", "is not a date")
            if day > as_of:
                return Death(
                    warnings=(
                        DataWarning(
                            code="after-as-of",
                            diagnostic=f"deceased {day.isoformat()}, after the as-of date; "
                            "the patient is taken as alive at the as-of date",
                            location=f"{ref}.deceasedDateTime",
                        ),
                    )
                )
            return Death(deceased=True, day=day)
        if r.get("deceasedBoolean") is True:
            return _no_date(ref, "deceasedBoolean", "is true")
    return Death()


def _no_date(ref: str, element: str, what: str) -> Death:
    return Death(
        deceased=True,
        warnings=(
            DataWarning(
                code="deceased-no-date",
                diagnostic=f"{element} {what}: the patient has died, date unknown; "
                "treatment is not cut at a date, and nothing is suggested",
                location=f"{ref}.{element}",
                reason="deceased-no-date",
            ),
        ),
    )
