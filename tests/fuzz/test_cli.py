"""`trd-fhir evaluate` in-process on mutated files: exit code from the error tree, exactly one
line on stderr on failure, never a traceback; on success a report on stdout."""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path

from hypothesis import event, given
from hypothesis import strategies as st

from trdfhir.cli import main
from trdfhir.errors import EXIT_INPUT, EXIT_OK, EXIT_STRICT

from .budget import budget, tried
from .strategies import Case, cases, raw_bodies

WORK = Path(tempfile.mkdtemp(prefix="trdfhir-fuzz-cli-"))
ALLOWED = {EXIT_OK, EXIT_INPUT, EXIT_STRICT}


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def check(code: int, out: str, err: str, fmt: str) -> None:
    event(f"exit {code}")  # --hypothesis-show-statistics
    assert "Traceback" not in err and "Traceback" not in out
    assert code in ALLOWED, (code, err)
    if code == EXIT_OK:
        assert out.strip()
        if fmt == "json":
            json.loads(out)
        assert err == ""
    else:
        assert err.count("\n") == 1 and err.startswith("trd-fhir: error: "), err
        assert "internal error" not in err


@given(case=cases(), fmt=st.sampled_from(["text", "json", "fhir"]), strict=st.booleans())
@budget("cli")
def test_evaluate_mutated_files(case: Case, fmt: str, strict: bool) -> None:
    tried("cli")
    path = WORK / "case.json"
    try:
        text = json.dumps(case.data, ensure_ascii=False)  # NaN/Infinity as Python writes them
    except (RecursionError, ValueError):
        return  # the harness cannot write it; raw_bodies covers such text
    path.write_text(text, encoding="utf-8")
    argv = ["evaluate", str(path), "--as-of", case.as_of, "--format", fmt]
    code, out, err = run_cli([*argv, "--strict"] if strict else argv)
    check(code, out, err, fmt)


@given(body=raw_bodies(), fmt=st.sampled_from(["text", "json"]))
@budget("cli-bytes")
def test_evaluate_files_that_are_not_json(body: bytes, fmt: str) -> None:
    tried("cli-bytes")
    path = WORK / "raw.json"
    path.write_bytes(body)
    code, out, err = run_cli(["evaluate", str(path), "--as-of", "2026-09-01", "--format", fmt])
    check(code, out, err, fmt)
