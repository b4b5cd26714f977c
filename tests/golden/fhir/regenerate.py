"""Rewrite the pinned write-back Bundles of every example. Run by hand, then review the diff:

.venv/bin/python -m tests.golden.fhir.regenerate
"""

from tests.golden.examples import index
from tests.golden.fhir.bundles import bundle_of, dumps, golden_path


def main() -> None:
    for entry in index():
        golden_path(entry).write_text(dumps(bundle_of(entry)))
        print(f"wrote {golden_path(entry).name}")


if __name__ == "__main__":
    main()
