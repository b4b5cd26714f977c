"""Everything trd-fhir emits must pass four checks, run here in order:

    models       parses with the fhir.resources R4B models
    schema       validates against the official FHIR R4 JSON Schema
    profile      conforms to the base definitions and the declared profiles (medplum's validator)
    terminology  codes of the project's CodeSystem exist in it (profiles/.../CodeSystem-trd.json)

Each issue has a severity, the check that found it, a FHIRPath-like location and a message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..emit.ids import CODE_SYSTEM
from .models import model_issues
from .profiles import ig_dir, profile_issues
from .schema import schema_issues

CHECKS = ("models", "schema", "profile", "terminology")
ISSUE_TYPE = {"models": "structure", "schema": "structure", "terminology": "code-invalid"}


@dataclass(frozen=True, kw_only=True)
class Issue:
    severity: str  # fatal, error, warning, information
    check: str
    location: str
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity in ("fatal", "error")

    def line(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{self.severity:<11} {self.check:<11} {where}{self.message}"


def validate(documents: list[Any], *, profiles: bool = True) -> list[list[Issue]]:
    """The issues of each document (a resource or a Bundle)."""
    out = [_local(doc) for doc in documents]
    if profiles:
        for issues, found in zip(out, profile_issues(documents), strict=True):
            issues += [
                Issue(
                    severity=str(i.get("severity", "error")),
                    check="profile",
                    location=", ".join(i.get("expression") or []),
                    message=str(i.get("diagnostics", "")),
                )
                for i in found
            ]
    return out


def _local(doc: Any) -> list[Issue]:
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
        return [Issue(severity="error", check="models", location="", message="not a FHIR resource")]
    issues = [
        Issue(severity="error", check="models", location=w, message=m) for w, m in model_issues(doc)
    ]
    issues += [
        Issue(severity="error", check="schema", location=w, message=m)
        for w, m in schema_issues(doc)
    ]
    issues += [
        Issue(
            severity="error",
            check="terminology",
            location=w,
            message=f"unknown code {code!r} in {CODE_SYSTEM}",
        )
        for w, code in _codings(doc, doc["resourceType"])
        if code not in known_codes()
    ]
    return issues


@lru_cache(maxsize=1)
def known_codes() -> frozenset[str]:
    """Every code of the compiled CodeSystem (its concepts are nested by group)."""
    cs = json.loads((ig_dir() / "CodeSystem-trd.json").read_text(encoding="utf-8"))

    def walk(concepts: list[dict[str, Any]]) -> Iterator[str]:
        for c in concepts:
            yield c["code"]
            yield from walk(c.get("concept", []))

    return frozenset(walk(cs.get("concept", [])))


def _codings(node: Any, where: str) -> Iterator[tuple[str, str]]:
    """(location, code) of every Coding of the project's CodeSystem."""
    if isinstance(node, dict):
        if node.get("system") == CODE_SYSTEM and "code" in node:
            yield f"{where}.code", str(node["code"])
        for key, value in node.items():
            yield from _codings(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _codings(value, f"{where}[{i}]")


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    """The issues as an OperationOutcome (one informational issue when there is none)."""
    if not issues:
        return {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "code": "informational", "diagnostics": "valid"}],
        }
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": i.severity,
                "code": ISSUE_TYPE.get(i.check, "invalid"),
                "diagnostics": f"[{i.check}] {i.message}",
                **({"expression": [i.location]} if i.location else {}),
            }
            for i in issues
        ],
    }
