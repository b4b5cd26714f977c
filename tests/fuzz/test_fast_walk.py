"""The one walk of limits.check_input (the envelope, and fhir/shape.py's fast check of each
resource with the depth left to it) against the two plain walks it replaces: the depth of the
whole input (limits.json_depth_exceeds) and the shape check of each resource (shape_problem's
slow path). On every mutated record both must say the same."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trdfhir.errors import LimitError
from trdfhir.fhir.shape import _compiled, resource_problem
from trdfhir.ingest.bundle import _collect
from trdfhir.limits import Limits, check_input, json_depth_exceeds

from .budget import budget, tried
from .strategies import Case, cases


def slow_problem(resource: Any) -> str | None:
    # an explicit `compiled` table takes the reference walk, not the fast one
    return resource_problem(resource, compiled=_compiled())


def collected(data: Any) -> list[dict[str, Any]]:
    try:
        return [resource for resource, _loc, _url in _collect(data)]
    except Exception:  # not a record the reader takes: nothing to compare
        return []


@given(case=cases(), limit=st.sampled_from([8, 12, 20, 40, 100]))
@budget("fast-walk")
def test_one_walk_agrees_with_the_depth_walk_and_the_shape_walk(case: Case, limit: int) -> None:
    tried("fast-walk")
    limits = Limits(max_depth=limit, max_resources=1_000_000)
    too_deep = json_depth_exceeds(case.data, limit)
    try:
        well_formed = check_input(case.data, limits)
    except LimitError as exc:
        assert too_deep, f"refused an input within {limit} levels: {exc}"
        assert f"more than {limit} levels deep" in str(exc)
        return
    assert not too_deep, f"accepted an input deeper than {limit} levels"
    for resource in collected(case.data):
        assert (id(resource) in well_formed) == (slow_problem(resource) is None)


@pytest.mark.parametrize("levels", [1, 2, 3, 4, 5, 6, 7])
def test_the_depth_is_counted_from_the_root_through_bundles_and_lists(levels: int) -> None:
    deep: Any = {"url": "x", "valueString": "y"}
    for _ in range(levels):
        deep = {"url": "x", "extension": [deep]}
    patient = {"resourceType": "Patient", "id": "p", "extension": [deep]}
    for data in (
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]},
        [patient],
        patient,
    ):
        exact = next(n for n in range(1, 100) if not json_depth_exceeds(data, n))
        check_input(data, Limits(max_depth=exact))
        with pytest.raises(LimitError):
            check_input(data, Limits(max_depth=exact - 1))
