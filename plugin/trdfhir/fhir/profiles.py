"""Profile validation: the project's StructureDefinitions (profiles/fsh-generated/resources),
checked by a real profile validator, @medplum/core's, run by node (tools/validator/validate.cjs).

`make test` installs it (`npm ci --prefix tools/validator`); TRDFHIR_VALIDATOR_DIR points at
another installation, TRDFHIR_NODE at another node binary.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..errors import TrdFhirError
from .schema import data_dir

TIMEOUT_SECONDS = 300


class ProfileValidatorMissing(TrdFhirError):
    """node or the validator's node_modules are not installed."""


def ig_dir() -> Path:
    return data_dir() / "fsh-generated" / "resources"


def validator_dir() -> Path:
    configured = os.environ.get("TRDFHIR_VALIDATOR_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "tools" / "validator"


def node_binary() -> str:
    node = os.environ.get("TRDFHIR_NODE") or shutil.which("node")
    if not node:
        raise ProfileValidatorMissing("node is not installed: it runs the profile validator")
    return node


def available() -> bool:
    try:
        node_binary()
    except ProfileValidatorMissing:
        return False
    return (validator_dir() / "node_modules" / "@medplum" / "core").is_dir()


def profile_issues(documents: list[Any]) -> list[list[dict[str, Any]]]:
    """Per document, the validator's issues: {severity, code, diagnostics, expression}."""
    if not documents:
        return []
    tool = validator_dir()
    if not (tool / "node_modules" / "@medplum" / "core").is_dir():
        raise ProfileValidatorMissing(
            f"the profile validator is not installed in {tool}: run `make validator` "
            "(npm ci --prefix tools/validator), or pass --no-profiles"
        )
    command = [node_binary(), str(tool / "validate.cjs"), "--ig", str(ig_dir())]
    try:
        done = subprocess.run(  # noqa: S603 (fixed command, no shell)
            command,
            input=json.dumps(documents),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProfileValidatorMissing(f"the profile validator did not run: {exc}") from None
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ProfileValidatorMissing(f"the profile validator failed: {detail}")
    result: list[list[dict[str, Any]]] = json.loads(done.stdout)
    return result
