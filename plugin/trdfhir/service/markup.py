"""The SMART app's markup: one Jinja2 environment over templates/ (autoescape on, undefined
names an error) and the few formatting helpers the templates and the page code share.

Every value reaches the HTML through a template, so escaping is the default, not a habit.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def fmt_day(day: date | str | None) -> str:
    """The page's one date format: '4 Dec 2026' (an ISO string is read first; None is '—')."""
    if day is None:
        return "—"
    if isinstance(day, str):
        try:
            return fmt_day(date.fromisoformat(day[:10]))
        except ValueError:
            return day
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def dates(text: object) -> str:
    """Text from the assessment with its ISO days ('2026-09-24') in the page's format."""

    def one(match: re.Match[str]) -> str:
        try:
            return fmt_day(date(*(int(g) for g in match.groups())))
        except ValueError:
            return match.group(0)

    return _ISO_DAY.sub(one, str(text))


def num(value: float | int | None) -> str:
    if value is None:
        return "?"
    return f"{value:g}"


def words(code: str) -> str:
    text = code.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def plural(n: int, one: str, many: str | None = None) -> str:
    """'1 trial', '2 trials' ('many' when the plural is not one + 's')."""
    return f"{n} {one if n == 1 else (many or one + 's')}"


@cache
def environment(package: str = "trdfhir.service") -> Environment:
    """The environment over `package`'s templates/ folder (the app's; devtools has its own)."""
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(fmt_day=fmt_day, num=num, words=words, dates=dates)
    env.globals.update(plural=plural)
    return env


def render(name: str, *, package: str = "trdfhir.service", **context: Any) -> str:
    return environment(package).get_template(name).render(**context)
