"""Hypothesis strategies: the 20 example Bundles, mutated the ways real and hostile records are
wrong, and raw bodies that are not even JSON.

A case starts from one example vignette and applies 1-6 mutations, each at a path chosen in the
current document (so Hypothesis shrinks a failure to the fewest, smallest mutations):

  drop a field; a value of another JSON type; a huge, negative, non-finite or "NaN"-like number;
  a very long string; unicode (right-to-left marks, NUL and other control characters, combining
  marks, emoji; never a lone surrogate, which JSON text cannot carry); nesting 20-160 levels deep;
  a duplicated entry (duplicate ids); a reference to nowhere; a resource of another patient; an
  unknown resourceType; a Bundle inside the Bundle; a value copied from elsewhere; a new resource
  of a random type; a sentinel date ("9999-12-31", "0001-01-01") or an impossible one.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Vignette:
    name: str
    bundle: dict[str, Any]
    as_of: date

    @property
    def patient_id(self) -> str:
        return next(
            e["resource"]["id"]
            for e in self.bundle["entry"]
            if e["resource"]["resourceType"] == "Patient"
        )


def _vignettes() -> list[Vignette]:
    index = json.loads((ROOT / "examples" / "index.json").read_text(encoding="utf-8"))
    out = []
    for item in index["examples"]:
        bundle = json.loads((ROOT / "examples" / item["file"]).read_text(encoding="utf-8"))
        out.append(Vignette(item["file"], bundle, date.fromisoformat(item["as_of"])))
    return out


VIGNETTES = _vignettes()


@dataclass
class Case:
    """A mutated record: the data (usually a Bundle), its as-of date, and what was done."""

    data: Any
    as_of: str
    steps: list[str]
    base: str

    def __repr__(self) -> str:  # what Hypothesis prints for a failing example
        return f"Case(base={self.base!r}, as_of={self.as_of!r}, steps={self.steps!r})"


# -- values --------------------------------------------------------------------------------------
NAN_LIKE = ["NaN", "nan", "Infinity", "-Infinity", "1e999", "-0", "0x10", "1,5", " 12 ", "null"]
DATES = [
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "2026-13-01",
    "2026",
    "2026-06",
    "2026-06-01T25:61:61Z",
    "1799-12-31",
    "1800-01-01",
    "2999-12-31",
    "3000-01-01",
    "2026-06-01T00:00:00+14:00",
    "2026-06-01T23:59:59-12:00",
    "tomorrow",
    "",
]
REFERENCES = [
    "Medication/ghost",
    "Patient/someone-else",
    "urn:uuid:00000000-0000-0000-0000-000000000000",
    "#not-contained",
    "http://elsewhere.example/fhir/Medication/x",
    "Medication",
    "/",
    "Patient/" + "x" * 300,
]
RESOURCE_TYPES = [
    "Patient",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
    "MedicationDispense",
    "MedicationAdministration",
    "Medication",
    "Procedure",
    "Observation",
    "QuestionnaireResponse",
    "Encounter",
    "Bundle",
    "OperationOutcome",
    "Parameters",
]

unicode_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),  # any encodable code point: no lone surrogates
        st.sampled_from(["\u202e", "\u200f", "\u2066", "\x00", "\x1b", "\u0301", "\U0001f600"]),
    ),
    max_size=40,
)

numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 2**31, 2**63, 10**20, -(10**12)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1e-300, -0.0, 0.5]),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    unicode_text,
    st.sampled_from(NAN_LIKE + DATES + REFERENCES),
)

small_json = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(unicode_text, inner, max_size=3)
    ),
    max_leaves=6,
)


def random_resource(draw: st.DrawFn, patient: str) -> dict[str, Any]:
    rtype = draw(st.sampled_from([*RESOURCE_TYPES, "NotAType", "patient", ""]))
    resource: dict[str, Any] = {"resourceType": rtype, "id": draw(unicode_text)}
    if draw(st.booleans()):
        resource["subject"] = {"reference": f"Patient/{patient}"}
    keys = ["status", "code", "valueQuantity", "effectiveDateTime", "dosage", "medicationReference"]
    for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
        resource[key] = draw(small_json)
    return resource


# -- the document ----------------------------------------------------------------------------------
def paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every path below the root (iterative: documents may be deep), deepest first."""
    out: list[Path_] = []
    stack: list[tuple[Any, Path_]] = [(node, prefix)]
    while stack:
        item, here = stack.pop()
        children: list[tuple[str | int, Any]] = []
        if isinstance(item, dict):
            children = list(item.items())
        elif isinstance(item, list):
            children = list(enumerate(item))
        for key, value in children:
            path = (*here, key)
            out.append(path)
            stack.append((value, path))
    # deepest first: Hypothesis draws small indexes more often (and shrinks towards 0), and a
    # leaf inside a resource is the interesting place; the Bundle's own structure comes last
    out.sort(key=lambda p: (-len(p), [str(k) for k in p]))
    return out


def get(node: Any, path: Path_) -> Any:
    for key in path:
        node = node[key]
    return node


def _entries(doc: Any) -> list[Any] | None:
    if isinstance(doc, dict) and isinstance(doc.get("entry"), list):
        return doc["entry"]
    return None


# value-level mutations weigh more than structural ones, so that most cases get past the checks
# of the whole document and into the pipeline; "same-type" keeps the FHIR JSON types (and so
# gets past the shape check too) with values the pipeline must still survive.
OPERATIONS = [
    *["same-type"] * 8,
    *["drop", "weird", "retype", "number", "date", "copy"] * 2,
    "long-string",
    "unicode",
    "deep",
    "duplicate-entry",
    "dangling-reference",
    "other-patient",
    "unknown-type",
    "bundle-in-bundle",
    "new-resource",
]
CODES = [
    "36437",
    "321988",
    "44261-6",
    "44260-8",
    "F33.1",
    "F31.81",
    "mg",
    "d",
    "wk",
    "mo",
    "a",
    "h",
    "TAB",
    "active",
    "completed",
    "stopped",
    "entered-in-error",
    "not-taken",
    "final",
    "amended",
    "cancelled",
    "unknown",
    "http://loinc.org",
    "http://www.nlm.nih.gov/research/umls/rxnorm",
    "http://snomed.info/sct",
    "http://hl7.org/fhir/sid/icd-10-cm",
]


def same_type(draw: st.DrawFn, value: Any) -> Any:
    """Another value of the same JSON type (so the resource keeps its FHIR shape)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return draw(
            st.one_of(
                st.integers(-(10**12), 10**12),
                st.floats(allow_nan=False, allow_infinity=False),
                st.sampled_from([0, -1, 1e308, 2**31, 10**20, 0.0001]),
            )
        )
    if isinstance(value, str):
        return draw(st.one_of(st.sampled_from(CODES + DATES + REFERENCES + NAN_LIKE), unicode_text))
    if isinstance(value, list):
        how = draw(st.sampled_from(["empty", "double", "reverse", "first"]))
        if how == "empty" or not value:
            return []
        if how == "double" and len(value) <= 40:  # bounded growth: cases stay fast
            return value + copy.deepcopy(value)
        return value[::-1] if how == "reverse" else value[:1]
    if isinstance(value, dict) and value:
        out = dict(value)
        del out[draw(st.sampled_from(sorted(out)))]
        return out
    return value


def mutate(draw: st.DrawFn, doc: Any, patient: str, state: dict[str, bool]) -> str:
    """One mutation of `doc` in place; returns its description. `state` keeps the deep nesting
    to one per case (the test harness itself copies and serialises the document)."""
    all_paths = paths(doc)
    if not all_paths:
        return "nothing to mutate"
    path = all_paths[draw(st.integers(0, len(all_paths) - 1))]
    parent, key = get(doc, path[:-1]), path[-1]
    where = "/".join(str(k) for k in path)
    op = draw(st.sampled_from(OPERATIONS))
    entries = _entries(doc)
    if op == "same-type":
        parent[key] = same_type(draw, parent[key])
    elif op == "drop":
        del parent[key]
    elif op == "weird":
        parent[key] = draw(small_json)
    elif op == "retype":
        value = parent[key]
        options: list[Any] = [None, 0, "", [], {}, True]
        if isinstance(value, dict):
            options = [list(value.values()), json.dumps(value)[:50], 1]
        elif isinstance(value, list):
            options = [{"0": value[0]} if value else {}, len(value), "list"]
        elif isinstance(value, str):
            options = [{"value": value}, [value], len(value), value == ""]
        elif isinstance(value, bool):
            options = [str(value).lower(), int(value), [value]]
        elif isinstance(value, int | float):
            options = [str(value), [value], {"value": value}, bool(value)]
        parent[key] = draw(st.sampled_from(options))
    elif op == "number":
        parent[key] = draw(numbers | st.sampled_from(NAN_LIKE))
    elif op == "long-string":
        parent[key] = draw(st.sampled_from(["x", "é", "\u202e9", "0"])) * draw(
            st.sampled_from([1_000, 20_000, 200_000])
        )
    elif op == "unicode":
        parent[key] = draw(unicode_text)
    elif op == "deep" and not state.get("deep"):
        state["deep"] = True
        value = parent[key]
        for _ in range(draw(st.sampled_from([20, 60, 99, 101, 160]))):
            value = [value] if draw(st.booleans()) else {"extension": value}
        parent[key] = value
    elif op == "duplicate-entry" and entries:
        entries.append(copy.deepcopy(entries[draw(st.integers(0, len(entries) - 1))]))
    elif op == "dangling-reference":
        field = draw(st.sampled_from(["medicationReference", "subject", "patient", "focus"]))
        target = parent if isinstance(parent, dict) else doc
        if isinstance(target, dict):
            target[field] = {"reference": draw(st.sampled_from(REFERENCES))}
    elif op == "other-patient" and entries:
        clone = copy.deepcopy(entries[draw(st.integers(0, len(entries) - 1))])
        resource = clone.get("resource") if isinstance(clone, dict) else None
        if isinstance(resource, dict):
            resource["subject"] = {"reference": "Patient/someone-else"}
            resource["id"] = "other-" + str(resource.get("id"))
            if resource.get("resourceType") == "Patient":
                resource["id"] = "someone-else"
        entries.append(clone)
    elif op == "unknown-type" and entries:
        entry = entries[draw(st.integers(0, len(entries) - 1))]
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            entry["resource"]["resourceType"] = draw(
                st.sampled_from(["Foo", "patient", "", "Bundle ", "Resource", "Element"])
            )
    elif op == "bundle-in-bundle":
        depth = draw(st.sampled_from([1, 1, 2, 4]))
        inner: Any = copy.deepcopy(doc)
        for _ in range(depth):
            inner = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": inner}]}
        if isinstance(doc, dict):
            doc.clear()
            doc.update(inner)
    elif op == "copy":
        source = all_paths[draw(st.integers(0, len(all_paths) - 1))]
        value = get(doc, source)
        small = len(paths(value)) <= 200  # bounded growth: cases stay fast
        if source[: len(path)] != path and small:  # not a value into itself
            parent[key] = copy.deepcopy(value)
    elif op == "new-resource" and entries is not None:
        entries.append({"resource": random_resource(draw, patient)})
    elif op == "date":
        parent[key] = draw(st.sampled_from(DATES))
    else:
        parent[key] = None
        op = f"{op}->null"
    return f"{op} at {where}"


@st.composite
def cases(draw: st.DrawFn, *, max_steps: int = 6) -> Case:
    """A mutated example record (or, rarely, a random JSON value or resource list)."""
    vignette = draw(st.sampled_from(VIGNETTES))
    as_of = draw(
        st.sampled_from([vignette.as_of.isoformat()] * 16 + ["2999-12-31", "1800-01-01", "1970"])
    )
    shape = draw(st.sampled_from(["bundle"] * 16 + ["list", "random"]))
    if shape == "random":
        return Case(draw(small_json), as_of, ["random JSON"], vignette.name)
    doc: Any = copy.deepcopy(vignette.bundle)
    if shape == "list":
        doc = [e["resource"] for e in doc["entry"]]
    state: dict[str, bool] = {}
    count = draw(st.integers(1, max_steps))
    steps = [mutate(draw, doc, vignette.patient_id, state) for _ in range(count)]
    return Case(doc, as_of, steps, vignette.name)


# -- bytes ---------------------------------------------------------------------------------------
@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    """Bytes that are almost a FHIR JSON document: truncated, spliced, not UTF-8, NDJSON, ..."""
    vignette = draw(st.sampled_from(VIGNETTES))
    text = json.dumps(vignette.bundle).encode()
    how = draw(
        st.sampled_from(
            ["truncate", "splice", "latin-1", "bom", "ndjson", "nested", "empty", "garbage"]
        )
    )
    if how == "truncate":
        return text[: draw(st.integers(0, len(text) - 1))]
    if how == "splice":
        at = draw(st.integers(0, len(text)))
        return text[:at] + draw(st.binary(max_size=20)) + text[at:]
    if how == "latin-1":
        return text.replace(b'"', b'"\xe9', 1)
    if how == "bom":
        return b"\xef\xbb\xbf" + text
    if how == "ndjson":
        return b"\n".join(json.dumps(e["resource"]).encode() for e in vignette.bundle["entry"])
    if how == "nested":
        depth = draw(st.sampled_from([50, 101, 500, 5000, 100_000]))
        return b"[" * depth + text + b"]" * depth
    if how == "empty":
        return draw(st.sampled_from([b"", b" ", b"\n", b"null", b"[]", b"{}", b"0"]))
    return draw(st.binary(max_size=200))
