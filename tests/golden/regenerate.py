"""Rewrite the pinned summaries and write-back Bundles of every example. Run by hand, then
review the diff:

.venv/bin/python -m tests.golden.regenerate
"""

import tests.golden.fhir.regenerate as fhir_regenerate
import trdfhir
from tests.golden.examples import dumps, golden_path, index, load


def main() -> None:
    for entry in index():
        summary = trdfhir.evaluate(load(entry), as_of=entry["as_of"]).summary()
        golden_path(entry).write_text(dumps(summary))
        print(f"wrote {golden_path(entry).name}")
    fhir_regenerate.main()


if __name__ == "__main__":
    main()
