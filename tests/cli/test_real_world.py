"""The command line on records in real shapes: a transaction Bundle, a deceased patient, the
reading report at the end of the text report."""

import json

from tests import real_shapes as rs
from trdfhir.cli import main

AS_OF = "2026-06-01"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, data):
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_a_transaction_bundle_without_ids_is_evaluated(capsys, tmp_path):
    path = write(
        tmp_path,
        rs.transaction(rs.mdd_condition("2026-01-10"), rs.lhc_phq9("2026-02-01", (1,) * 9)),
    )
    code, out, err = run(capsys, "evaluate", path, "--as-of", AS_OF, "--format", "json")
    assert code == 0 and err == ""
    summary = json.loads(out)
    assert summary["patient"] == f"Patient/{rs.PID}"
    assert "deceased" not in summary


def test_the_text_report_ends_with_the_reading_report(capsys, tmp_path):
    path = write(
        tmp_path,
        rs.transaction(rs.lhc_phq9("2026-02-01", (1,) * 9), rs.sertraline_statement("2026-01-12")),
    )
    code, out, _ = run(capsys, "evaluate", path, "--as-of", AS_OF)
    assert code == 0
    tail = out[out.index("Reading report") :].splitlines()
    assert tail[1] == "  medication records: 1; with a daily dose 1, with a duration 1"
    assert tail[2] == "  questionnaires: read 1, not read 0"


def test_a_deceased_patient_text_json_and_fhir(capsys, tmp_path):
    data = rs.transaction(rs.mdd_condition("2025-01-10"))
    data["entry"][0]["resource"] = rs.synthea_patient("2025-09-30")
    path = write(tmp_path, data)
    code, out, _ = run(capsys, "evaluate", path, "--as-of", AS_OF)
    assert code == 0
    assert "Deceased (2025-09-30): nothing is suggested and nothing is written back" in out
    code, out, _ = run(capsys, "evaluate", path, "--as-of", AS_OF, "--format", "json")
    assert json.loads(out)["deceased"] == "2025-09-30"
    code, out, err = run(capsys, "evaluate", path, "--as-of", AS_OF, "--format", "fhir")
    assert code != 0 and out == ""
    assert "has died" in err and len(err.strip().splitlines()) == 1
