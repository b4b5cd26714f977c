"""Which Python-worker API the Spark engine evaluates patients with: measured, not guessed.

    .venv/bin/python bench/spark_strategies.py [--patients 600] [--repeats 2]

On one synthetic export and one local[2] session, the same grouped lines (plan_groups) are
evaluated by
- mapInArrow over partitions hash-partitioned by patient and sorted (what spark.py does): each
  Python worker streams Arrow batches and cuts them into patients itself;
- groupBy("patient").applyInPandas: Spark hands each patient's rows to the worker as one pandas
  DataFrame (one Arrow exchange per patient).
Both call the same per-patient function (`_one_patient`) and give the same rows; the figure is
the wall time of the evaluation stage (count of the results), best of `--repeats`, alternating.
Results: printed, and recorded by hand in docs/spark.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    from trdfhir.bulk import write_population
    from trdfhir.bulk.spark import (
        RESULTS,
        _arrow_schema,
        _evaluator,
        _inputs,
        _numbered_lines,
        _one_patient,
        _routed,
        evaluate_groups,
        plan_groups,
    )
    from trdfhir.bulk.worker import WorkerConfig

    work = Path(tempfile.mkdtemp(prefix="spark-strategies-"))
    try:
        write_population(work / "export", patients=args.patients, seed=1)
        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        names, uris, _ = _inputs(spark, str(work / "export"))
        config = WorkerConfig(work="", as_of="2026-10-01", files=tuple(names))
        lines = _routed(_numbered_lines(spark, names, uris))
        classified, grouped = plan_groups(lines, names, 4)
        grouped = grouped.persist()
        grouped.count()  # reading and grouping out of the measured stage

        def arrow() -> int:
            return int(grouped.mapInArrow(evaluate_groups(config), RESULTS).count())

        def pandas_groups(frame: Any) -> Any:
            import pandas as pd

            frame = frame.sort_values(["ord", "fi", "ln"])
            out: list[dict[str, Any]] = []
            rows = list(zip(frame["ord"], frame["fi"], frame["ln"], frame["text"], strict=True))
            rows = [(int(o), int(f), int(n), t) for o, f, n, t in rows]
            _one_patient(
                _evaluator(config), frame["patient"].iloc[0], rows, out, Counter(), Counter()
            )
            table = _arrow_schema(RESULTS).empty_table().to_pandas()
            return pd.DataFrame(out, columns=table.columns) if out else table

        def pandas() -> int:
            return int(grouped.groupBy("patient").applyInPandas(pandas_groups, RESULTS).count())

        best: dict[str, float] = {}
        counts: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, run in (("mapInArrow", arrow), ("applyInPandas", pandas)):
                t0 = time.perf_counter()
                counts[name] = run()
                best[name] = min(best.get(name, 1e9), time.perf_counter() - t0)
        load = os.getloadavg()[0]
        for name, seconds in best.items():
            print(
                f"{name:14} {seconds:7.1f} s  {args.patients / seconds:6.1f} patients/s"
                f"  ({counts[name]} result rows)"
            )
        print(f"applyInPandas / mapInArrow: {best['applyInPandas'] / best['mapInArrow']:.2f}x")
        print(f"load average at the end: {load:.1f} on {os.cpu_count()} cores")
        classified.unpersist()
        spark.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
