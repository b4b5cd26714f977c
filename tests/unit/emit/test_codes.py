"""The CodeSystem: emit/codes.py is its one source; profiles/ must hold its compiled form."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import trdfhir
from trdfhir.emit.codes import CONCEPTS, GROUPS, coding
from trdfhir.emit.ids import CODE_SYSTEM
from trdfhir.fhir.profiles import ig_dir

ROOT = Path(__file__).resolve().parents[3]


def compiled() -> dict[str, tuple[str, str]]:
    cs = json.loads((ig_dir() / "CodeSystem-trd.json").read_text())
    assert cs["url"] == CODE_SYSTEM
    out = {}
    for group in cs["concept"]:
        out[group["code"]] = (group["display"], "")
        for c in group.get("concept", []):
            out[c["code"]] = (c["display"], group["code"])
    return out


def test_every_finding_and_suggestion_of_the_mappings_has_a_code():
    maps = trdfhir.load_mappings()
    assert set(maps.findings) <= {c for c, (_d, g) in CONCEPTS.items() if g == "finding"}
    assert set(maps.suggestions) <= {c for c, (_d, g) in CONCEPTS.items() if g == "suggestion"}


def test_the_compiled_codesystem_matches_the_table():
    """Fails after an edit of emit/codes.py until `make profiles` is run."""
    expected = {**{g: (d, "") for g, (d, _x) in GROUPS.items()}, **CONCEPTS}
    assert compiled() == expected


def test_the_generated_fsh_is_up_to_date():
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "profiles" / "gen_terminology.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout == (ROOT / "profiles" / "input" / "fsh" / "terminology.fsh").read_text()


def test_an_unknown_code_gets_no_display():
    assert coding("not-a-code") == {"system": CODE_SYSTEM, "code": "not-a-code"}
    assert coding("esm-TRD1")["display"] == "ESM: TRD1"
