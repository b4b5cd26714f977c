"""The example vignettes and their as-of dates (examples/index.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SUMMARIES = Path(__file__).resolve().parent / "summaries"


def index() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((EXAMPLES / "index.json").read_text())["examples"]
    return entries


def load(entry: dict[str, Any]) -> Any:
    return json.loads((EXAMPLES / entry["file"]).read_text())


def golden_path(entry: dict[str, Any]) -> Path:
    return SUMMARIES / entry["file"].replace(".json", ".summary.json")


def dumps(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
