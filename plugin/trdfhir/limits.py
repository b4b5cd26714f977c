"""Limits on what one evaluation may cost: nesting depth, resource count and time.

    limits = Limits(max_depth=100, max_resources=100_000, max_seconds=10.0)
    check_input(data, limits)              # LimitError (an InputError) when too deep or too big
    with deadline(limits.max_seconds):     # the pipeline calls checkpoint() between its stages
        ...

Depth and count are checked on the parsed JSON before anything reads it, without recursion, so a
hostile document cannot exhaust the stack. Time is a cooperative deadline: `checkpoint()` is
called between the pipeline's stages and inside its per-trial and per-segment loops, and raises
LimitError once the deadline has passed. Nothing is interrupted mid-statement (no signals, no
thread killing), so a stage can overrun by at most one loop step; the input limits keep each
step small. The deadline lives in a context variable: it applies to the thread (or task) that
set it and to nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from .errors import LimitError
from .fhir.shape import TooDeep, fast_check

DEFAULT_MAX_DEPTH = 100  # nested JSON objects/arrays; real FHIR records stay below ~30
DEFAULT_MAX_RESOURCES = 100_000  # resources in one patient's input (library and CLI)
DEFAULT_MAX_LINE_BYTES = 10_000_000  # one NDJSON line (bulk); longer lines are not parsed


@dataclass(frozen=True)
class Limits:
    max_depth: int = DEFAULT_MAX_DEPTH
    max_resources: int = DEFAULT_MAX_RESOURCES
    max_seconds: float | None = None  # None: no deadline (the library and the CLI)


DEFAULT_LIMITS = Limits()
_CONTAINERS = (dict, list)


def json_depth_exceeds(data: Any, limit: int) -> bool:
    """True when `data` nests objects/arrays more than `limit` levels deep (iterative)."""
    level = [data] if isinstance(data, dict | list) else []
    depth = 0
    while level:  # one level of the tree at a time: no stack of (node, depth) pairs to build
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for node in level:
            children = node.values() if isinstance(node, dict) else node
            below += [child for child in children if isinstance(child, _CONTAINERS)]
        level = below
    return False


def count_resources(data: Any, stop_after: int) -> int:
    """Resources in the input: Bundle entries (Bundles in Bundles counted through), list items
    and contained resources; counting stops past `stop_after`."""
    count = 0
    stack = [data]
    while stack and count <= stop_after:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict) and isinstance(item.get("resourceType"), str):
            entries = item.get("entry")
            if item["resourceType"] == "Bundle" and isinstance(entries, list):
                stack.extend(e.get("resource") for e in entries if isinstance(e, dict))
            else:
                count += 1
            contained = item.get("contained")
            if isinstance(contained, list):
                stack.extend(contained)
    return count


def check_input(data: Any, limits: Limits = DEFAULT_LIMITS) -> frozenset[int]:
    """LimitError when the parsed input nests deeper than `max_depth` or holds more than
    `max_resources` resources. Returns the ids (`id()`) of the resources whose JSON types were
    found right on the way (fhir/shape.py), so that reading them need not walk them again."""
    well_formed = _walk_input(data, limits.max_depth)
    if count_resources(data, limits.max_resources) > limits.max_resources:
        raise LimitError(
            f"the input holds more than {limits.max_resources} resources; "
            "evaluate one patient at a time"
        )
    return frozenset(well_formed)


def _too_deep(limit: int) -> LimitError:
    return LimitError(f"the input nests JSON objects/arrays more than {limit} levels deep")


def _walk_input(data: Any, limit: int) -> set[int]:
    """The depth check in one walk with the shape check: lists and Bundles (the envelope) are
    walked here, each resource by fhir/shape.py's fast check with the depth left to it."""
    well_formed: set[int] = set()
    stack: list[tuple[Any, int]] = [(data, 1)]  # (a node, its level; the root is level 1)
    try:
        while stack:
            node, level = stack.pop()
            if not isinstance(node, _CONTAINERS):
                continue
            if level > limit:
                raise _too_deep(limit)
            if isinstance(node, list):
                stack.extend((item, level + 1) for item in node)
            elif node.get("resourceType") == "Bundle" and isinstance(node.get("entry"), list):
                stack.extend(_bundle_parts(node, level, limit))
            elif isinstance(node.get("resourceType"), str):
                if fast_check(node, limit - level + 1):
                    well_formed.add(id(node))
            elif json_depth_exceeds(node, limit - level + 1):
                raise _too_deep(limit)
    except TooDeep:
        raise _too_deep(limit) from None
    return well_formed


def _bundle_parts(bundle: dict[str, Any], level: int, limit: int) -> list[tuple[Any, int]]:
    """A Bundle's entry resources, with their levels; its other elements checked for depth."""
    parts: list[tuple[Any, int]] = []
    for key, value in bundle.items():
        if key != "entry" and json_depth_exceeds(value, limit - level):
            raise _too_deep(limit)
    if level + 1 > limit:
        raise _too_deep(limit)
    for entry in bundle["entry"]:
        if not isinstance(entry, dict):
            parts.append((entry, level + 2))
            continue
        if level + 2 > limit:
            raise _too_deep(limit)
        for key, value in entry.items():
            if key == "resource":
                parts.append((value, level + 3))
            elif json_depth_exceeds(value, limit - level - 2):
                raise _too_deep(limit)
    return parts


# -- time ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Deadline:
    seconds: float
    ends: float
    clock: Callable[[], float]

    def check(self, stage: str) -> None:
        if self.clock() > self.ends:
            raise LimitError(
                f"the evaluation took longer than the limit of {self.seconds:g} s "
                f"(stopped in {stage})"
            )


_current: ContextVar[Deadline | None] = ContextVar("trdfhir_deadline", default=None)


@contextmanager
def deadline(
    seconds: float | None, *, clock: Callable[[], float] = time.monotonic
) -> Iterator[Deadline | None]:
    """Within the block, checkpoint() raises LimitError once `seconds` have passed (None: no
    deadline; an outer deadline that ends sooner is kept)."""
    if seconds is None:
        yield _current.get()
        return
    mine = Deadline(seconds=seconds, ends=clock() + seconds, clock=clock)
    outer = _current.get()
    chosen = outer if outer is not None and outer.ends <= mine.ends else mine
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def checkpoint(stage: str) -> None:
    """Raise LimitError when the current deadline (if any) has passed."""
    current = _current.get()
    if current is not None:
        current.check(stage)
