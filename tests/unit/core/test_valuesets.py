"""Official value sets (mappings/valuesets.json): codes recognised because the standard lists
them, with the project's meaning; hand-made rows win; the file is validated on load."""

import json
import shutil
from collections import defaultdict

import pytest

from tests.fhir_builders import SNOMED, bundle, condition, statement
from trdfhir import MappingError, evaluate, load_mappings
from trdfhir.ingest.medications import _match_concept
from trdfhir.mappings import ICD10_CM, RXNORM, default_directory

MAPS = load_mappings()


def category(code, system=SNOMED, maps=MAPS):
    rule = maps.classify_condition(system, code)
    return None if rule is None else (rule.category, rule.severity, rule.psychotic)


def by_code_alone(code, maps=MAPS):
    """What the medication reader makes of an RxNorm code with no display and no text."""
    found = _match_concept({"coding": [{"system": RXNORM, "code": code}]}, maps)
    return [(i.drug.ingredient, i.strength_mg) for i in found]


# -- recognised because the standard lists them -----------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        # Issue 10's examples, missed before: 'Severe recurrent major depression with psychotic
        # features, mood-incongruent', 'Recurrent major depressive episodes, moderate',
        # 'Recurrent major depressive episodes'.
        ("15193003", ("mdd", 5, True)),
        ("191611001", ("mdd", 3, False)),
        ("268621008", ("mdd", None, False)),
        ("36474008", ("mdd", 4, False)),  # severe recurrent, without psychotic features
        ("87512008", ("mdd", 2, False)),  # mild major depression
        ("720452006", ("mdd", None, False)),  # 'moderately severe': no Maudsley level
        ("10811161000119107", ("mdd", None, False)),  # MDD complicating pregnancy
    ],
)
def test_snomed_major_depression_codes_are_mdd_with_the_severity_their_name_states(code, expected):
    assert category(code) == expected


@pytest.mark.parametrize("code", ["10875004", "12969000", "10981006", "13746004", "191627008"])
def test_snomed_bipolar_codes_are_bipolar(code):
    assert category(code) == ("bipolar", None, False)


def test_a_bipolar_code_listed_in_an_mdd_value_set_is_still_bipolar():
    # 67002003 'Severe bipolar II disorder, most recent episode major depressive, in partial
    # remission' is in VSAC 'Major Depressive Disorder Active' (2.16.840.1.113883.3.526.3.1491).
    assert category("67002003") == ("bipolar", None, False)


def test_emotionally_unstable_personality_disorder_is_borderline():
    assert category("191765005") == ("borderline", None, False)
    assert category("55341008") == ("personality-disorder", None, False)  # histrionic


@pytest.mark.parametrize("code", ["F30.10", "F30.2", "F30.4"])
def test_icd_manic_episodes_of_the_bipolar_value_set_are_bipolar(code):
    assert category(code, ICD10_CM)[0] == "bipolar"


@pytest.mark.parametrize(
    "code",
    [
        "19527009",  # Single episode of major depression in full remission
        "30605009",  # Major depression in partial remission
        "46244001",  # Recurrent major depression in full remission
        "63412003",  # Major depression in full remission
        "104851000119103",  # Postpartum major depression in remission
        "16265301000119106",  # Recurrent MDD in partial remission co-occurrent with anxiety
    ],
)
def test_remission_codes_are_the_remission_category_never_active_mdd(code):
    assert category(code) == ("mdd-remission", None, False)


def test_dysthymia_codes_of_the_value_sets_are_the_dysthymia_category():
    assert category("78667006") == ("dysthymia", None, False)  # Dysthymia (hand-made row)
    assert category("19694002") == ("dysthymia", None, False)  # Late onset dysthymia (value set)


def test_codes_without_a_project_category_stay_unrecognised():
    assert category("76105009") is None  # Cyclothymia
    assert category("21586000") is None  # Munchausen's syndrome (factitious, not a PD)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("2532159", [("fluoxetine", 10)]),  # PMDD fluoxetine 10 MG Oral Tablet
        ("313995", [("fluoxetine", 90)]),  # fluoxetine 90 MG Delayed Release Oral Capsule
        ("2605950", [("venlafaxine", 112.5)]),  # 24 HR venlafaxine 112.5 MG ER Oral Tablet
        ("1000054", [("doxepin", 10)]),  # doxepin 10 MG/ML Oral Solution: per mL
        ("312242", [("paroxetine", 2)]),  # paroxetine hydrochloride 2 MG/ML Oral Suspension
        ("1653469", [("vilazodone", None)]),  # pack of 10 mg and 20 mg tablets: no one strength
        ("859186", [("selegiline", None)]),  # oral selegiline: MAO-B doses, strength withheld
        ("312941", [("sertraline", 50)]),  # hand-made products.json row, unchanged
    ],
)
def test_antidepressant_value_set_codes_are_read_by_code_alone(code, expected):
    assert by_code_alone(code) == expected


def test_the_codes_only_value_sets_give_are_known_apart_from_the_hand_made_ones():
    assert (RXNORM, "2532159") in MAPS.valueset_medications
    assert (RXNORM, "312941") not in MAPS.valueset_medications  # hand-made products.json row
    assert (RXNORM, "1653469") in MAPS.valueset_medications  # ingredient-only (pack)


def test_combination_products_are_not_one_ingredient_by_code_but_both_by_name():
    # fluoxetine 25 MG / olanzapine 6 MG Oral Capsule: the code alone is not guessed at ...
    assert by_code_alone("403969") == []
    # ... and the display, as real systems send it, gives both ingredients by name.
    coding = {"system": RXNORM, "code": "403969"}
    concept = {"coding": [coding], "text": "fluoxetine 25 MG / olanzapine 6 MG Oral Capsule"}
    assert sorted(i.drug.ingredient for i in _match_concept(concept, MAPS)) == [
        "fluoxetine",
        "olanzapine",
    ]


# -- what a remission code does to the episode ------------------------------------------------


def summary(*resources):
    return evaluate(bundle(*resources), as_of="2026-11-01").summary()


def test_a_snomed_mdd_code_only_the_value_set_knows_starts_the_episode():
    s = summary(
        condition("191611001", "2026-02-01", system=SNOMED),  # recurrent MDE, moderate
        statement("sertraline", 100, "2026-03-01", "2026-07-31"),
    )
    assert s["episode"]["start"] == "2026-02-01"


def test_a_remission_code_never_starts_an_episode():
    """'Recurrent major depression in full remission', active on the problem list since February:
    the episode is dated by the antidepressant started in March, not by the remission code."""
    s = summary(
        condition("46244001", "2026-02-01", system=SNOMED),
        statement("sertraline", 100, "2026-03-01", "2026-07-31"),
    )
    assert s["episode"]["start"] == "2026-03-01"


# -- the data file ----------------------------------------------------------------------------


def test_every_code_of_every_value_set_is_accounted_for():
    """Each value set's codes are all in the file: mapped (conditions/medications) or skipped
    with a reason; none dropped silently."""
    doc = json.loads((default_directory() / "valuesets.json").read_text())
    seen = defaultdict(set)
    for table in ("conditions", "medications", "skipped"):
        for row in doc[table]:
            for cite in row["valuesets"]:
                seen[cite].add((row["system"], row["code"]))
    for vs in doc["valuesets"]:
        assert len(seen[f"{vs['url']}|{vs['version']}"]) == vs["codes"], vs["title"]


def test_no_active_mdd_row_names_remission_or_history():
    doc = json.loads((default_directory() / "valuesets.json").read_text())
    for row in doc["conditions"]:
        words = row["display"].lower()
        if row["category"] == "mdd":
            assert "remission" not in words and "history" not in words, row["code"]
        if "remission" in words and "bipolar" not in words and "manic" not in words:
            assert row["category"] == "mdd-remission", row["code"]


# -- precedence and validation ----------------------------------------------------------------


@pytest.fixture
def copy(tmp_path):
    target = tmp_path / "mappings"
    shutil.copytree(default_directory(), target)
    return target


def edit_valuesets(directory, change):
    path = directory / "valuesets.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def row(doc, table, code):
    return next(r for r in doc[table] if r["code"] == code)


def test_a_hand_made_row_wins_over_the_value_set(copy):
    def change(doc):
        row(doc, "conditions", "370143000").update(category="bipolar")  # hand-made: mdd
        row(doc, "conditions", "F32.4").update(category="mdd")  # hand-made: mdd-remission
        row(doc, "medications", "312941").update(strength_mg=999)  # products.json: 50 mg
        row(doc, "conditions", "191611001").update(category="anxiety")  # value set only

    edit_valuesets(copy, change)
    maps = load_mappings(copy)
    assert category("370143000", maps=maps)[0] == "mdd"
    assert category("F32.4", ICD10_CM, maps=maps)[0] == "mdd-remission"
    assert by_code_alone("312941", maps) == [("sertraline", 50)]
    assert category("191611001", maps=maps)[0] == "anxiety"  # the file is what is read


def test_a_hand_made_exclusion_is_not_undone_by_a_value_set(copy):
    def change(doc):
        doc["conditions"].append(dict(row(doc, "conditions", "F32.9"), code="F32.A"))

    edit_valuesets(copy, change)
    assert category("F32.A", ICD10_CM, maps=load_mappings(copy)) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: row(d, "conditions", "15193003").update(category="melancholy"),
            r"valuesets.json: table 'conditions', row \d+, field 'category'",
        ),
        (
            lambda d: row(d, "medications", "2532159").update(ingredient="unobtainium"),
            "unobtainium' is not in any medication file",
        ),
        (
            lambda d: row(d, "medications", "2532159").update(unit=None),
            "'strength_mg' and 'unit' are given together or not at all",
        ),
        (
            lambda d: row(d, "conditions", "15193003").update(valuesets=["http://x.org/vs|1"]),
            "'http://x.org/vs|1' is not in table 'valuesets'",
        ),
        (
            lambda d: d["conditions"].append(dict(row(d, "conditions", "15193003"))),
            "valuesets.json: row .* repeats",
        ),
        (
            lambda d: d["skipped"].append(dict(d["skipped"][0], system=SNOMED, code="15193003")),
            r"valuesets.json: row skipped \d+ repeats .*15193003.* \(first in row conditions \d+\)",
        ),
        (
            lambda d: row(d, "conditions", "15193003").pop("valuesets"),
            r"table 'conditions', row \d+.*'valuesets'",
        ),
    ],
)
def test_a_broken_value_set_file_names_the_row_and_field(copy, change, message):
    edit_valuesets(copy, change)
    with pytest.raises(MappingError, match=message):
        load_mappings(copy)
