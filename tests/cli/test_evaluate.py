"""`trd-fhir evaluate`: formats, exit codes, one-line errors on stderr, never a traceback."""

import json
import subprocess
import sys

import pytest

from tests.fhir_builders import bundle, condition, phq9, statement
from trdfhir.cli import main

AS_OF = "2026-11-01"


@pytest.fixture
def bundle_file(tmp_path):
    path = tmp_path / "patient.json"
    path.write_text(
        json.dumps(
            bundle(
                condition("F33.1", "2026-01-01"),
                statement("sertraline", 100, "2026-01-10", "2026-03-31"),
                *phq9("2026-01-09", 19),
                *phq9("2026-03-30", 17),
            )
        )
    )
    return path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_text_report_has_trials_stages_findings_and_suggestions(capsys, bundle_file):
    code, out, err = run(capsys, "evaluate", str(bundle_file), "--as-of", AS_OF)
    assert code == 0 and err == ""
    for heading in ("Treatment trials", "Staging", "Findings", "Suggestions"):
        assert heading in out
    assert "sertraline" in out and "Maudsley" in out


def test_json_is_the_contract_object(capsys, bundle_file):
    code, out, _ = run(capsys, "evaluate", str(bundle_file), "--as-of", AS_OF, "--format", "json")
    summary = json.loads(out)
    assert code == 0 and summary["contract"] == "1" and summary["as_of"] == AS_OF


def test_json_output_is_deterministic(capsys, bundle_file):
    args = ("evaluate", str(bundle_file), "--as-of", AS_OF, "--format", "json")
    assert run(capsys, *args)[1] == run(capsys, *args)[1]


def test_ndjson_gives_one_object_per_patient(capsys, tmp_path):
    lines = [statement("sertraline", 50, "2026-01-01", subject=f"Patient/{p}") for p in ("a", "b")]
    path = tmp_path / "many.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    code, out, _ = run(
        capsys, "evaluate", str(path), "--as-of", AS_OF, "--format", "json", "--compact"
    )
    assert code == 0
    assert [json.loads(line)["patient"] for line in out.splitlines()] == ["Patient/a", "Patient/b"]


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        ('{"resourceType": "Bundle", ', 2, "not valid JSON"),
        ('{"resourceType": "Bundle"}\n{"oops"\n', 2, "not valid NDJSON"),
        ("", 2, "is empty"),
        ('{"resourceType": "Spaceship"}', 2, "not a FHIR R4 resource type"),
        (
            json.dumps(bundle(statement("sertraline", 50, "2026-01-01", subject="Patient/other"))),
            2,
            "more than one patient",
        ),
    ],
)
def test_unusable_input_is_one_line_on_stderr(capsys, tmp_path, content, code, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    got, out, err = run(capsys, "evaluate", str(path), "--as-of", AS_OF)
    assert got == code and out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("trd-fhir: error:")


def test_strict_mode_fails_on_data_warnings(capsys, tmp_path):
    path = tmp_path / "warn.json"
    path.write_text(json.dumps(bundle(statement("sertraline", 50000, "2026-01-01"))))
    assert run(capsys, "evaluate", str(path), "--as-of", AS_OF)[0] == 0
    code, _, err = run(capsys, "evaluate", str(path), "--as-of", AS_OF, "--strict")
    assert code == 4 and "implausible-dose" in err


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (("--as-of", "yesterday"), 2, "as-of date must be YYYY-MM-DD"),
        (("--as-of", AS_OF, "--set", "trial_gap_days=soon"), 7, "needs a int"),
        (("--as-of", AS_OF, "--set", "nonsense"), 7, "KEY=VALUE"),
        (("--as-of", AS_OF, "--mappings", "/nonexistent"), 3, "mapping file missing"),
    ],
)
def test_bad_options(capsys, bundle_file, extra, code, message):
    got, _, err = run(capsys, "evaluate", str(bundle_file), *extra)
    assert got == code and message in err


def test_missing_file(capsys):
    code, _, err = run(capsys, "evaluate", "/no/such/file.json", "--as-of", AS_OF)
    assert code == 2 and "cannot read" in err


def test_console_script_never_prints_a_traceback(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("[1, 2, 3]")
    proc = subprocess.run(
        [sys.executable, "-m", "trdfhir.cli", "evaluate", str(path), "--as-of", AS_OF],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_stdin(monkeypatch, capsys, bundle_file):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(bundle_file.read_text()))
    code, out, _ = run(capsys, "evaluate", "-", "--as-of", AS_OF, "--format", "json")
    assert code == 0 and json.loads(out)["patient"] == "Patient/p1"


def test_a_truncated_json_file_is_reported_as_json_where_it_breaks(capsys, tmp_path, bundle_file):
    pretty = json.dumps(json.loads(bundle_file.read_text()), indent=2)
    cut = pretty[: len(pretty) // 2]  # a download that stopped half way
    path = tmp_path / "cut.json"
    path.write_text(cut)
    got, out, err = run(capsys, "evaluate", str(path), "--as-of", AS_OF)
    lines = cut.count("\n") + 1
    assert got == 2 and out == ""
    assert "is not valid JSON" in err and "NDJSON" not in err
    assert f"line {lines}," in err or f"line {lines + 1}," in err


def test_version_names_the_installed_distribution(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"trd-fhir {version('trd-fhir')}"


def test_a_bundle_relabelled_parameters_is_named_as_such(capsys, tmp_path, bundle_file):
    relabelled = json.loads(bundle_file.read_text())
    relabelled["resourceType"] = "Parameters"  # e.g. copied from a $trd-evaluate request
    relabelled.pop("type", None)
    path = tmp_path / "params.json"
    path.write_text(json.dumps(relabelled))
    got, out, err = run(capsys, "evaluate", str(path), "--as-of", AS_OF)
    assert got == 2 and out == ""
    assert err.count("\n") == 1
    assert "Bundle relabelled 'Parameters'" in err and "no patient found" not in err


def test_a_list_with_item_entries_is_not_taken_for_a_bundle(tmp_path):
    from trdfhir.ingest.bundle import _has_bundle_entries

    listing = {"resourceType": "List", "entry": [{"item": {"reference": "Patient/p1"}}]}
    assert not _has_bundle_entries(listing)


def test_an_eight_week_trial_of_unknown_dose_shows_its_eight_weeks_on(capsys, tmp_path):
    path = tmp_path / "unknown-dose.json"
    unknown_dose = statement("sertraline", None, "2026-01-10", "2026-03-06")  # 56 days
    path.write_text(json.dumps(bundle(condition("F33.1", "2026-01-01"), unknown_dose)))
    code, out, _ = run(capsys, "evaluate", str(path), "--as-of", AS_OF)
    assert code == 0
    header, _rule, row = out.split("Treatment trials\n")[1].splitlines()[:3]
    assert "weeks on (adequate)" in header
    assert "sertraline" in row and " 8 (0, 8 unknown) " in row
    assert "Weeks on (adequate): weeks on the treatment" in out  # the legend says which is which
