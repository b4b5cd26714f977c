"""Load `mappings/*.json`, validate each file against its JSON Schema, index the rows.

A broken file fails at load time with a message naming the file, the row and the field.
The tables are read-only after loading; `load_mappings()` caches them per directory.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from .errors import MappingError
from .model import PlanStep
from .settings import Settings

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10_CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOCAL = "http://trd-fhir.org/fhir/CodeSystem/local"

FILES = (
    "antidepressants",
    "augmenters",
    "inducers",
    "products",
    "procedures",
    "scales",
    "conditions",
    "observations",
    "status_reasons",
    "findings",
    "suggestions",
    "settings",
    "dm_trd_weights",
    "valuesets",
    "dose_units",
)

Key = tuple[str, str]


@dataclass(frozen=True, kw_only=True)
class Drug:
    ingredient: str
    role: str  # antidepressant, augmentation, inducer
    drug_class: str | None
    group: str | None  # augmenters: lithium, antipsychotic, thyroid
    min_adequate_mg: float | None
    usual_max_mg: float | None
    source: str


@dataclass(frozen=True, kw_only=True)
class Product:
    ingredient: str
    strength_mg: float
    unit: str


@dataclass(frozen=True, kw_only=True)
class ProcedureCode:
    kind: str
    modality: str | None
    laterality: str | None


@dataclass(frozen=True, kw_only=True)
class Band:
    min: float
    max: float
    label: str
    maudsley_severity: int | None = None
    outcome: str | None = None


@dataclass(frozen=True, kw_only=True)
class Scale:
    name: str
    kind: str  # severity, global-change
    min: float
    max: float
    remission_max: float | None
    priority: int
    bands: tuple[Band, ...]

    def band(self, value: float) -> Band | None:
        return next((b for b in self.bands if b.min <= value <= b.max), None)


@dataclass(frozen=True, kw_only=True)
class ScaleCode:
    scale: str
    role: str  # total, item, panel
    item: int | None


@dataclass(frozen=True, kw_only=True)
class ConditionRule:
    category: str
    code: str
    match: str
    exclude: bool
    severity: int | None
    psychotic: bool
    manic: bool = False


@dataclass(frozen=True, kw_only=True)
class TextInfo:
    severity: str | None
    text: str
    reason: str | None
    source: str


@dataclass(frozen=True, kw_only=True)
class DoseUnits:
    """How dose units and timing codes are read (mappings/dose_units.json).

    Units are keyed by (system, code) for coded rows and by ("", lower-case text) for unit text;
    each maps to (kind, meaning, factor): mass and rate give mg (per day), form a product unit.
    Timing codes are keyed the same way, with ("", CODE) for codes read in any system and
    ("text", lower-case text) for Timing.code.text."""

    units: dict[Key, tuple[str, str, float]] = field(default_factory=dict)
    timing: dict[Key, float] = field(default_factory=dict)

    def unit(self, system: object, code: object, text: object) -> tuple[str, str, float] | None:
        if isinstance(system, str) and isinstance(code, str):
            hit = self.units.get((system, code))
            if hit is not None:
                return hit
        for value in (code, text):
            if isinstance(value, str) and value.strip():
                hit = self.units.get(("", value.strip().lower()))
                if hit is not None:
                    return hit
        return None

    def per_day(self, system: object, code: object) -> float | None:
        if not isinstance(code, str):
            return None
        if isinstance(system, str):
            hit = self.timing.get((system, code))
            if hit is not None:
                return hit
        return self.timing.get(("", code.strip().upper()))

    def per_day_text(self, text: str) -> float | None:
        return self.timing.get(("text", " ".join(text.lower().split()).rstrip(".")))


def _dose_units(doc: dict[str, Any]) -> DoseUnits:
    units: dict[Key, tuple[str, str, float]] = {}
    for i, r in enumerate(doc["units"]):
        key = (r["system"], r["code"]) if r["system"] else ("", r["code"].lower())
        if key in units:
            raise MappingError(f"dose_units.json: table 'units', row {i} repeats {key!r}")
        units[key] = (r["kind"], r["meaning"], float(r["factor"]))
        if r["system"]:  # a UCUM or SNOMED code is also read when a system writes it as text
            units.setdefault(("", r["code"].lower()), units[key])
    timing: dict[Key, float] = {}
    for i, r in enumerate(doc["timing"]):
        system = r["system"]
        code = r["code"].lower() if system == "text" else r["code"]
        key = (system or "", code if system else code.upper())
        if key in timing:
            raise MappingError(f"dose_units.json: table 'timing', row {i} repeats {key!r}")
        timing[key] = float(r["per_day"])
        if system and system != "text":
            timing.setdefault(("", code.upper()), timing[key])
    return DoseUnits(units=units, timing=timing)


@dataclass(frozen=True, kw_only=True)
class Mappings:
    directory: Path
    drugs_by_code: dict[Key, Drug]
    drugs_by_name: dict[str, Drug]
    products: dict[Key, Product]
    procedures: dict[Key, ProcedureCode]
    modalities: dict[str, bool]  # modality -> evidence-based
    modality_labels: dict[str, str]
    scales: dict[str, Scale]
    scale_codes: dict[Key, ScaleCode]
    scale_answers: dict[Key, int]
    condition_rules: dict[str, tuple[ConditionRule, ...]]  # "icd10" / "snomed" -> rules
    observation_kinds: dict[Key, str]
    # functional rating codes -> (scale name, lowest, highest value)
    functional_scales: dict[Key, tuple[str, float, float]] = field(default_factory=dict)
    cautions: dict[str, TextInfo] = field(default_factory=dict)  # suggestions.json `cautions`
    caution_targets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # -> `applies_to`
    plan_steps: tuple[PlanStep, ...] = ()  # suggestions.json `sequential_plan`
    lab_units: dict[tuple[str, str], float]
    answer_meanings: dict[Key, str]
    stop_reason_codes: dict[Key, str]
    stop_reason_patterns: tuple[tuple[re.Pattern[str], str], ...]
    findings: dict[str, TextInfo]
    suggestions: dict[str, TextInfo]
    settings: Settings
    dm_trd_weights: dict[str, float]
    dm_trd_verified: bool
    # Drug names by their first word, each with its compiled whole-word pattern: the name fallback
    # only tries the names whose first word occurs in the text.
    name_patterns: dict[str, tuple[tuple[re.Pattern[str], Drug], ...]] = field(default_factory=dict)
    unverified: frozenset[str] = field(default=frozenset())  # "file:table:row", unverified rows
    # Exact codes of the official value sets (valuesets.json) that no hand-made row recognises:
    # (family, code) -> rule. Consulted only when no hand-made condition rule matches.
    valueset_conditions: dict[tuple[str, str], ConditionRule] = field(default_factory=dict)
    # Medication codes that only the official value sets give (in products or drugs_by_code).
    valueset_medications: frozenset[Key] = field(default=frozenset())
    dose_units: DoseUnits = field(default_factory=DoseUnits)
    # Lower-case words of each ingredient's names: the sig grammar accepts its own drug name as
    # leading words ("Sertraline HCl 50 mg daily"), never another drug's.
    name_words: dict[str, frozenset[str]] = field(default_factory=dict)
    # Questionnaires that are a known scale: last segment of the canonical URL -> scale name
    scale_forms: dict[str, str] = field(default_factory=dict)

    def drug_for(self, system: str | None, code: str | None) -> Drug | None:
        if not system or not code:
            return None
        return self.drugs_by_code.get((system, code))

    def classify_condition(self, system: str | None, code: str | None) -> ConditionRule | None:
        """The most specific rule for a diagnosis code; None if unknown or excluded."""
        if not system or not code:
            return None
        family = _condition_family(system)
        if family is None:
            return None
        norm = normalise_icd10(code) if family == "icd10" else code
        best = _best_rule(self.condition_rules.get(family, ()), norm)
        if best is None:  # no hand-made row knows the code: the official value sets may
            return self.valueset_conditions.get((family, norm))
        return None if best.exclude else best


def _best_rule(rules: Iterable[ConditionRule], norm: str) -> ConditionRule | None:
    """The longest hand-made rule matching a normalised code, exclude rules included."""
    best: ConditionRule | None = None
    for rule in rules:
        hit = norm == rule.code or (rule.match == "prefix" and norm.startswith(rule.code))
        if hit and (best is None or len(rule.code) > len(best.code)):
            best = rule
    return best


def _condition_family(system: str) -> str | None:
    """Which rule table a condition code system is matched in (None: not read)."""
    return {ICD10: "icd10", ICD10_CM: "icd10", SNOMED: "snomed", LOCAL: "local"}.get(system)


def normalise_icd10(code: str) -> str:
    """'f331' -> 'F33.1'; ICD-10 codes arrive with and without the dot."""
    text = code.strip().upper()
    if "." not in text and len(text) > 3:
        text = f"{text[:3]}.{text[3:]}"
    return text


def default_directory() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here.parent.parent / "mappings", here / "_data" / "mappings"):
        if (candidate / "settings.json").is_file():
            return candidate
    raise MappingError("cannot find the mappings/ directory next to the package")


def load_mappings(directory: str | Path | None = None) -> Mappings:
    path = Path(directory) if directory is not None else default_directory()
    return _load(path.resolve())


@functools.lru_cache(maxsize=8)
def _load(directory: Path) -> Mappings:
    docs = {name: _read_valid(directory, name) for name in FILES}
    return _index(directory, docs)


def _read_valid(directory: Path, name: str) -> dict[str, Any]:
    path = directory / f"{name}.json"
    schema_path = directory / "schema" / f"{name}.schema.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        schema = json.loads(schema_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise MappingError(f"mapping file missing: {exc.filename}") from None
    except json.JSONDecodeError as exc:
        raise MappingError(
            f"{path.name}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise MappingError(f"{path.name}: {_describe(errors[0])}")
    return dict(doc)


def _describe(error: jsonschema.ValidationError) -> str:
    parts = list(error.absolute_path)
    where = []
    if parts:
        where.append(f"table '{parts[0]}'")
    if len(parts) > 1:
        where.append(f"row {parts[1]}")
    if len(parts) > 2:
        where.append(f"field '{'.'.join(map(str, parts[2:]))}'")
    if error.validator == "required" and isinstance(error.message, str):
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        where.append(f"field '{missing}'")
    return f"{', '.join(where) or 'top level'}: {error.message}"


def _unique(name: str, items: Iterable[tuple[Any, int | str]]) -> None:
    seen: dict[Any, int | str] = {}
    for key, row in items:
        if key in seen:
            raise MappingError(f"{name}.json: row {row} repeats {key!r} (first in row {seen[key]})")
        seen[key] = row


def _index(directory: Path, docs: dict[str, dict[str, Any]]) -> Mappings:
    drugs_by_code: dict[Key, Drug] = {}
    drugs_by_name: dict[str, Drug] = {}
    code_rows: list[tuple[Any, int]] = []
    for file, role in (
        ("antidepressants", "antidepressant"),
        ("augmenters", "augmentation"),
        ("inducers", "inducer"),
    ):
        for i, row in enumerate(docs[file]["rows"]):
            drug = Drug(
                ingredient=row["ingredient"],
                role=role,
                drug_class=row.get("class"),
                group=row.get("group"),
                min_adequate_mg=row.get("min_adequate_mg"),
                usual_max_mg=row.get("usual_max_mg"),
                source=row["source"],
            )
            for system, codes in ((RXNORM, row["rxnorm"]), (ATC, row["atc"])):
                for code in codes:
                    code_rows.append(((system, code), i))
                    drugs_by_code[(system, code)] = drug
            for name in (row["ingredient"], *row["names"]):
                drugs_by_name[name.lower()] = drug
    _unique("medication", code_rows)

    products: dict[Key, Product] = {}
    for i, row in enumerate(docs["products"]["rows"]):
        key = (row["system"], row["code"])
        if key in products:
            raise MappingError(f"products.json: row {i} repeats {key!r}")
        if row["ingredient"] not in drugs_by_name:
            raise MappingError(
                f"products.json: row {i} field 'ingredient': "
                f"'{row['ingredient']}' is not in any medication file"
            )
        products[key] = Product(
            ingredient=row["ingredient"], strength_mg=row["strength_mg"], unit=row["unit"]
        )

    proc = docs["procedures"]
    _unique("procedures", (((r["system"], r["code"]), i) for i, r in enumerate(proc["rows"])))
    procedures = {
        (r["system"], r["code"]): ProcedureCode(
            kind=r["kind"], modality=r["modality"], laterality=r["laterality"]
        )
        for r in proc["rows"]
    }
    modalities = {r["modality"]: r["evidence_based"] for r in proc["modalities"]}
    for i, r in enumerate(proc["rows"]):
        if r["modality"] is not None and r["modality"] not in modalities:
            raise MappingError(
                f"procedures.json: table 'rows', row {i}, field 'modality': "
                f"'{r['modality']}' is not in table 'modalities'"
            )

    sc = docs["scales"]
    scales = {
        r["scale"]: Scale(
            name=r["scale"],
            kind=r["kind"],
            min=r["min"],
            max=r["max"],
            remission_max=r["remission_max"],
            priority=r["priority"],
            bands=tuple(Band(**b) for b in r["bands"]),
        )
        for r in sc["scales"]
    }
    _unique("scales", (((r["system"], r["code"]), i) for i, r in enumerate(sc["codes"])))
    scale_codes = {}
    for i, r in enumerate(sc["codes"]):
        if r["scale"] not in scales:
            raise MappingError(
                f"scales.json: table 'codes', row {i}, field 'scale': unknown scale '{r['scale']}'"
            )
        scale_codes[(r["system"], r["code"])] = ScaleCode(
            scale=r["scale"], role=r["role"], item=r["item"]
        )
    scale_answers = {(r["system"], r["code"]): r["value"] for r in sc["answers"]}
    scale_forms = {r["form"]: r["scale"] for r in sc.get("forms", [])}
    for i, r in enumerate(sc.get("forms", [])):
        if r["scale"] not in scales:
            raise MappingError(
                f"scales.json: table 'forms', row {i}, field 'scale': unknown scale '{r['scale']}'"
            )

    rules: dict[str, list[ConditionRule]] = {"icd10": [], "snomed": [], "local": []}
    for r in docs["conditions"]["rows"]:
        family = _condition_family(r["system"]) or "snomed"
        code = normalise_icd10(r["code"]) if family == "icd10" else r["code"]
        rules[family].append(
            ConditionRule(
                category=r["category"],
                code=code,
                match=r["match"],
                exclude=r.get("exclude", False),
                severity=r.get("maudsley_severity"),
                psychotic=r.get("psychotic", False),
                manic=r.get("manic", False),
            )
        )

    valueset_conditions, valueset_medications = _merge_valuesets(
        docs["valuesets"], rules, products, drugs_by_code, drugs_by_name
    )

    obs = docs["observations"]
    observation_kinds = {(r["system"], r["code"]): r["kind"] for r in obs["rows"]}
    functional_scales = {
        (r["system"], r["code"]): (r["scale"], float(r["min"]), float(r["max"]))
        for r in obs["rows"]
        if r["kind"] == "functional" and "scale" in r
    }
    lab_units = {(r["test"], r["unit"]): r["factor"] for r in obs["units"]}
    answer_meanings = {(r["system"], r["code"]): r["meaning"] for r in obs["answers"]}

    stop_codes: dict[Key, str] = {}
    patterns: list[tuple[re.Pattern[str], str]] = []
    for i, r in enumerate(docs["status_reasons"]["rows"]):
        if r["system"] and r["code"]:
            stop_codes[(r["system"], r["code"])] = r["reason"]
        if r["pattern"]:
            try:
                patterns.append((re.compile(r["pattern"], re.IGNORECASE), r["reason"]))
            except re.error as exc:
                raise MappingError(
                    f"status_reasons.json: row {i}, field 'pattern': bad regex ({exc})"
                ) from None

    findings = {
        r["code"]: TextInfo(severity=r["severity"], text=r["text"], reason=None, source=r["source"])
        for r in docs["findings"]["rows"]
    }
    suggestions = {
        r["code"]: TextInfo(severity=None, text=r["text"], reason=r["reason"], source=r["source"])
        for r in docs["suggestions"]["rows"]
    }
    cautions = {
        r["code"]: TextInfo(severity=None, text=r["text"], reason=None, source=r["source"])
        for r in docs["suggestions"].get("cautions", [])
    }
    caution_targets = {
        r["code"]: tuple(r["applies_to"]) for r in docs["suggestions"].get("cautions", [])
    }
    plan_steps = tuple(
        PlanStep(
            step=r["step"],
            code=r["code"],
            text=r["text"],
            timing=r["timing"],
            condition=r["condition"],
            source=r["source"],
        )
        for r in sorted(docs["suggestions"].get("sequential_plan", []), key=lambda r: r["step"])
    )
    settings = Settings.from_rows({r["key"]: r["value"] for r in docs["settings"]["rows"]})
    weights = docs["dm_trd_weights"]["rows"]
    unverified = frozenset(
        f"{name}:{table}:{i}"
        for name, doc in docs.items()
        for table, rows in doc.items()
        if isinstance(rows, list)
        for i, row in enumerate(rows)
        if isinstance(row, dict) and row.get("confidence") == "unverified"
    )
    return Mappings(
        directory=directory,
        drugs_by_code=drugs_by_code,
        drugs_by_name=drugs_by_name,
        products=products,
        procedures=procedures,
        modalities=modalities,
        modality_labels={r["modality"]: r["label"] for r in proc["modalities"]},
        scales=scales,
        scale_codes=scale_codes,
        scale_answers=scale_answers,
        scale_forms=scale_forms,
        condition_rules={k: tuple(v) for k, v in rules.items()},
        observation_kinds=observation_kinds,
        functional_scales=functional_scales,
        cautions=cautions,
        caution_targets=caution_targets,
        plan_steps=plan_steps,
        lab_units=lab_units,
        answer_meanings=answer_meanings,
        stop_reason_codes=stop_codes,
        stop_reason_patterns=tuple(patterns),
        findings=findings,
        suggestions=suggestions,
        settings=settings,
        dm_trd_weights={r["item"]: r["weight"] for r in weights},
        dm_trd_verified=all(r["confidence"] == "verified" for r in weights),
        name_patterns=_name_patterns(drugs_by_name),
        unverified=unverified,
        valueset_conditions=valueset_conditions,
        valueset_medications=valueset_medications,
        dose_units=_dose_units(docs["dose_units"]),
        name_words=_name_words(drugs_by_name),
    )


def _merge_valuesets(
    doc: dict[str, Any],
    rules: dict[str, list[ConditionRule]],
    products: dict[Key, Product],
    drugs_by_code: dict[Key, Drug],
    drugs_by_name: dict[str, Drug],
) -> tuple[dict[tuple[str, str], ConditionRule], frozenset[Key]]:
    """Merge the official value-set codes into the tables; a hand-made row always wins.

    A condition code that any hand-made rule matches (exact, prefix or exclude) keeps the hand-made
    meaning; a medication code already in products.json or a medication file keeps that row. The
    value-set rows fill only the codes nobody typed. `products` and `drugs_by_code` are extended in
    place; the condition codes are returned as their own exact-code index, with the medication codes
    that were added.
    """
    cited = {f"{v['url']}|{v['version']}" for v in doc["valuesets"]}
    tables = ("conditions", "medications", "skipped")
    _unique(  # a code is in exactly one table: mapped, or skipped with its reason
        "valuesets",
        (((r["system"], r["code"]), f"{t} {i}") for t in tables for i, r in enumerate(doc[t])),
    )
    for table in tables:
        for i, r in enumerate(doc[table]):
            unknown = sorted(set(r["valuesets"]) - cited)
            if unknown:
                raise MappingError(
                    f"valuesets.json: table '{table}', row {i}, field 'valuesets': "
                    f"'{unknown[0]}' is not in table 'valuesets'"
                )
    conditions: dict[tuple[str, str], ConditionRule] = {}
    for r in doc["conditions"]:
        family = "icd10" if r["system"] in (ICD10, ICD10_CM) else "snomed"
        code = normalise_icd10(r["code"]) if family == "icd10" else r["code"]
        if _best_rule(rules[family], code) is not None:
            continue  # hand-made wins
        conditions[(family, code)] = ConditionRule(
            category=r["category"],
            code=code,
            match="exact",
            exclude=False,
            severity=r["maudsley_severity"],
            psychotic=r["psychotic"],
        )
    added: set[Key] = set()
    for i, r in enumerate(doc["medications"]):
        key = (r["system"], r["code"])
        drug = drugs_by_name.get(r["ingredient"])
        if drug is None:
            raise MappingError(
                f"valuesets.json: table 'medications', row {i}, field 'ingredient': "
                f"'{r['ingredient']}' is not in any medication file"
            )
        if (r["strength_mg"] is None) != (r["unit"] is None):
            raise MappingError(
                f"valuesets.json: table 'medications', row {i}: "
                "'strength_mg' and 'unit' are given together or not at all"
            )
        if key in products or key in drugs_by_code:
            continue  # hand-made wins
        added.add(key)
        if r["strength_mg"] is None:
            drugs_by_code[key] = drug
        else:
            products[key] = Product(
                ingredient=drug.ingredient, strength_mg=r["strength_mg"], unit=r["unit"]
            )
    return conditions, frozenset(added)


def _name_words(names: dict[str, Drug]) -> dict[str, frozenset[str]]:
    words: dict[str, set[str]] = {}
    for name, drug in names.items():
        words.setdefault(drug.ingredient, set()).update(re.findall(r"[a-z]+", name))
    return {ingredient: frozenset(w) for ingredient, w in words.items()}


def _name_patterns(
    names: dict[str, Drug],
) -> dict[str, tuple[tuple[re.Pattern[str], Drug], ...]]:
    index: dict[str, list[tuple[re.Pattern[str], Drug]]] = {}
    for name, drug in sorted(names.items()):
        first = re.match(r"\w+", name)
        pattern = re.compile(rf"\b{re.escape(name)}\b")
        index.setdefault(first[0] if first else name, []).append((pattern, drug))
    return {word: tuple(items) for word, items in index.items()}
