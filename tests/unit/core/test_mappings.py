"""Mappings are data, validated on load; a broken file names the file, row and field."""

import json
import shutil

import pytest

from trdfhir import MappingError, load_mappings
from trdfhir.mappings import FILES, default_directory

CONTRACT_FINDINGS = set(
    "safety-item9 inadequate-dose inadequate-duration unknown-dose non-adherence intolerance "
    "possible-bipolar possible-adhd possible-ptsd hypothyroidism tsh-not-checked sleep-apnea "
    "vitamin-d-deficiency vitamin-d-not-checked comorbid-anxiety substance-use "
    "borderline-personality metabolic-inducer loss-of-effect rechallenge-failure "
    "residual-symptoms no-psychotherapy-trial no-outcome-measure chronic-episode "
    "unmapped-code behavioural-toxicity double-depression".split()
)
CONTRACT_SUGGESTIONS = set(
    "safety-plan optimise-trial assess-adherence psychotherapy-trial screen-misdiagnosis "
    "medical-workup augment-or-switch neuromodulation-referral sequential-psychotherapy "
    "loss-of-effect-psychotherapy measurement-based-care functional-outcomes "
    "clinimetric-assessment shared-decision bipolar-depression-review".split()
)


@pytest.fixture
def broken_copy(tmp_path):
    target = tmp_path / "mappings"
    shutil.copytree(default_directory(), target)
    return target


def edit(directory, name, change):
    path = directory / f"{name}.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def test_shipped_mappings_load():
    maps = load_mappings()
    assert maps.drugs_by_name["sertraline"].min_adequate_mg == 50
    assert maps.scales["PHQ-9"].remission_max == 4


def test_finding_and_suggestion_codes_are_exactly_the_contracts():
    maps = load_mappings()
    assert set(maps.findings) == CONTRACT_FINDINGS
    assert set(maps.suggestions) == CONTRACT_SUGGESTIONS


def test_every_row_of_every_file_carries_source_and_confidence():
    for name in FILES:
        doc = json.loads((default_directory() / f"{name}.json").read_text())
        for table, rows in doc.items():
            if isinstance(rows, list):
                for i, row in enumerate(rows):
                    assert row.get("source"), f"{name}.json {table}[{i}] has no source"
                    assert row.get("confidence") in ("verified", "unverified"), (name, table, i)


def test_a_bad_value_names_file_row_and_field(broken_copy):
    edit(broken_copy, "antidepressants", lambda d: d["rows"][3].update(min_adequate_mg=-5))
    with pytest.raises(MappingError) as err:
        load_mappings(broken_copy)
    assert "antidepressants.json" in err.value.message
    assert "row 3" in err.value.message and "min_adequate_mg" in err.value.message


def test_a_missing_field_names_it(broken_copy):
    edit(broken_copy, "procedures", lambda d: d["rows"][0].pop("source"))
    with pytest.raises(MappingError, match=r"procedures.json: table 'rows', row 0.*'source'"):
        load_mappings(broken_copy)


def test_duplicate_codes_are_rejected(broken_copy):
    edit(broken_copy, "procedures", lambda d: d["rows"].append(dict(d["rows"][0])))
    with pytest.raises(MappingError, match="repeats"):
        load_mappings(broken_copy)


def test_invalid_json_is_reported_with_its_position(broken_copy):
    (broken_copy / "scales.json").write_text('{"description": ')
    with pytest.raises(MappingError, match=r"scales.json: not valid JSON.*line 1"):
        load_mappings(broken_copy)


def test_a_product_must_name_a_known_ingredient(broken_copy):
    edit(broken_copy, "products", lambda d: d["rows"][0].update(ingredient="unobtainium"))
    with pytest.raises(MappingError, match="unobtainium"):
        load_mappings(broken_copy)


def test_dose_units_are_validated(broken_copy):
    edit(broken_copy, "dose_units", lambda d: d["units"][0].update(kind="volume"))
    with pytest.raises(MappingError, match=r"dose_units.json: table 'units', row 0"):
        load_mappings(broken_copy)


def test_a_repeated_dose_unit_is_rejected(broken_copy):
    edit(broken_copy, "dose_units", lambda d: d["timing"].append(dict(d["timing"][0])))
    with pytest.raises(MappingError, match=r"dose_units.json: table 'timing', row \d+ repeats"):
        load_mappings(broken_copy)


def test_dose_units_are_read_by_code_or_by_text():
    units = load_mappings().dose_units
    assert units.unit("http://snomed.info/sct", "428641000", "capsule")[:2] == ("form", "capsule")
    assert units.unit(None, None, "TABLET")[:2] == ("form", "tablet")  # case-insensitive text
    assert units.unit("http://unitsofmeasure.org", "mg/d", None)[0] == "rate"
    assert units.unit(None, "mL", "mL") is None  # not convertible to mg
    assert units.per_day("http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "BID") == 2
    assert units.per_day("urn:local", "q12h") == 2  # read whatever the case
    assert units.per_day("urn:local", "QXYZ") is None
    assert units.per_day_text(" Twice  daily. ") == 2


def test_a_questionnaire_form_must_name_a_known_scale(broken_copy):
    edit(broken_copy, "scales", lambda d: d["forms"][0].update(scale="PHQ-99"))
    with pytest.raises(MappingError, match=r"table 'forms', row 0, field 'scale'.*PHQ-99"):
        load_mappings(broken_copy)
