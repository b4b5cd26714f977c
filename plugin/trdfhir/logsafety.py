"""Log lines without patient data or secrets, also from the libraries under us.

trd-fhir's own log messages never carry ids, names, dates of birth or tokens (they name the
interaction, counts, status codes and times). Two libraries log URLs, and URLs carry exactly
that: uvicorn's access log (`GET /fhir/Patient/<id>/$trd-evaluate`, `GET /app/callback?code=
...&state=...`) and urllib3's debug log of every request to a FHIR server. `install()` puts a
filter on those loggers that rewrites URLs in each record before any handler sees it: the query
string becomes `?[redacted]` and the id after a resource type becomes `[id]`.

    install()      # idempotent; create_app and the FHIR client call it
    redact("/fhir/Patient/p1/$everything?_count=9")  # "/fhir/Patient/[id]/$everything?[redacted]"
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

# the loggers of libraries that write URLs into their records
URL_LOGGERS = ("uvicorn.access", "urllib3.connectionpool")

_QUERY = re.compile(r"\?[^\s\"'<>]*")
_TYPED_ID = re.compile(r"(/[A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-.]{1,64})(?=$|[/?\s\"'#<>])")
_lock = threading.Lock()


def redact(text: str) -> str:
    """Query strings and the ids after resource types in a text, replaced."""
    return _TYPED_ID.sub(r"\1/[id]", _QUERY.sub("?[redacted]", text))


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactUrls(logging.Filter):
    """Rewrites the message and string arguments of every record it sees; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(a) for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: _redact_value(v) for k, v in record.args.items()}
        return True


def install(names: tuple[str, ...] = URL_LOGGERS) -> None:
    """Put the filter on these loggers (once each)."""
    with _lock:
        for name in names:
            logger = logging.getLogger(name)
            if not any(isinstance(f, RedactUrls) for f in logger.filters):
                logger.addFilter(RedactUrls())
