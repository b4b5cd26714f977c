"""The one exception tree of trd-fhir.

    TrdFhirError                 anything the user can act on; shown as one line, never a traceback
    ├── InputError               unusable FHIR input (bad JSON, wrong type, two patients, ...)
    │   ├── StrictModeError      input that only warnings would have let through, under --strict
    │   └── LimitError           input beyond a limit: nesting depth, resource count, time
    ├── MappingError             a broken file in mappings/ (names file, row and field)
    ├── SettingsError            an unknown or ill-typed setting
    ├── AuthError                a token or JWT that failed validation
    └── FhirServerError          a FHIR server that refused, failed or could not be reached

Each error knows how it is reported at every edge: the CLI exit code, the HTTP status, and the
OperationOutcome issue code (http://hl7.org/fhir/R4/valueset-issue-type.html).
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar

# CLI exit codes (retired codes are never reused).
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_INPUT = 2
EXIT_MAPPING = 3
EXIT_STRICT = 4
EXIT_SERVER = 5
EXIT_AUTH = 6
EXIT_SETTINGS = 7


MAX_MESSAGE_CHARS = 500
# control characters, line and paragraph separators, and the bidirectional overrides that make
# text display in another order than it reads ("trojan source")
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def printable(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """One line of text that shows what it says: characters that break lines, forge log
    lines or reorder text shown as escapes (\\n, \\u202e); at most `limit` characters.
    Messages quote input values, so they go through this."""
    text = _UNPRINTABLE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TrdFhirError(Exception):
    """Base of every error a user can act on. The message and location are made printable
    (one line, no control characters, bounded): they quote input values."""

    exit_code: ClassVar[int] = EXIT_INTERNAL
    http_status: ClassVar[int] = 500
    issue_code: ClassVar[str] = "exception"

    def __init__(self, message: str, *, location: str | None = None) -> None:
        message = printable(str(message))
        super().__init__(message)
        self.message = message
        self.location = printable(location, 200) if location else location

    def one_line(self) -> str:
        where = f" (at {self.location})" if self.location else ""
        return f"{self.message}{where}"

    def operation_outcome(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": "error",
            "code": self.issue_code,
            "diagnostics": self.message,
        }
        if self.location:
            issue["expression"] = [self.location]
        return {"resourceType": "OperationOutcome", "issue": [issue]}


class InputError(TrdFhirError):
    exit_code = EXIT_INPUT
    http_status = 422
    issue_code = "invalid"


class StrictModeError(InputError):
    exit_code = EXIT_STRICT


class LimitError(InputError):
    """The input is too deep, too large or takes too long to evaluate (limits.py)."""

    issue_code = "too-costly"


class MappingError(TrdFhirError):
    exit_code = EXIT_MAPPING
    http_status = 500
    issue_code = "exception"


class SettingsError(TrdFhirError):
    exit_code = EXIT_SETTINGS
    http_status = 400
    issue_code = "invalid"


class AuthError(TrdFhirError):
    exit_code = EXIT_AUTH
    http_status = 401
    issue_code = "security"


class FhirServerError(TrdFhirError):
    exit_code = EXIT_SERVER
    http_status = 502
    issue_code = "transient"

    def __init__(
        self,
        message: str,
        *,
        location: str | None = None,
        status: int | None = None,
        unreachable: bool = False,
    ) -> None:
        super().__init__(message, location=location)
        self.status = status  # the HTTP status, when it was one
        self.unreachable = unreachable  # no answer at all: refused, timed out, reset


class BusyError(TrdFhirError):
    """A bounded store or rate is full for now (HTTP 503): the caller may retry after
    `retry_after` seconds; nothing was done."""

    exit_code = EXIT_SERVER
    http_status = 503
    issue_code = "transient"

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


class ThrottledError(BusyError):
    """Too many requests from one client (HTTP 429, Retry-After)."""

    http_status = 429
    issue_code = "throttled"
