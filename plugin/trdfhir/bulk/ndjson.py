"""Bulk Data files: finding them, reading their lines with byte offsets, fast JSON in and out,
and creating output files safely.

orjson is used when installed (the `bench` extra); the standard library otherwise. Both read
the same values, and both write the same bytes for what bulk writes (compact, UTF-8). A line
nested too deeply for either parser is a ValueError like any other bad JSON (never a
RecursionError); a line longer than `max_line_bytes` is not read into memory at all (LongLine).
Output files are created new (exclusive create, symlinks not followed), so a link planted in
the output folder cannot redirect a write.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any, BinaryIO

from ..errors import InputError

try:  # pragma: no cover - depends on the environment
    import orjson

    def loads(data: bytes | str) -> Any:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            # orjson refuses a few things the standard library reads (integers over 64 bits);
            # fall back so both give the same answer.
            return _std_loads(data)

    def dumps(value: Any) -> bytes:
        try:
            return orjson.dumps(value)
        except TypeError:  # e.g. an integer over 64 bits
            return _std_dumps(value)

    HAVE_ORJSON = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_ORJSON = False

    def loads(data: bytes | str) -> Any:
        return _std_loads(data)

    def dumps(value: Any) -> bytes:
        return _std_dumps(value)


def _std_loads(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("it nests JSON objects/arrays too many levels deep to read") from None


def _std_dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


SUFFIXES = (".ndjson", ".ndjson.gz")
_BOM = b"\xef\xbb\xbf"
_BUFFER = 1 << 20
_SAMPLE = 8 << 20  # uncompressed bytes read to estimate a gzip file's ratio


@dataclass(frozen=True)
class InputFile:
    index: int
    path: Path
    name: str
    size: int  # bytes on disk
    gz: bool

    def estimated_bytes(self) -> int:
        """The uncompressed size; for gzip, extrapolated from the ratio of its first block."""
        if not self.gz or self.size == 0:
            return self.size
        try:
            with open(self.path, "rb") as raw, gzip.GzipFile(fileobj=raw) as stream:
                inflated = len(stream.read(_SAMPLE))
                consumed = raw.tell()
        except (OSError, EOFError):
            return self.size * 8
        if consumed >= self.size or inflated < _SAMPLE:
            return inflated if inflated < _SAMPLE else self.size * 8
        return int(self.size * inflated / max(consumed, 1))


def find_inputs(directory: str | Path) -> list[InputFile]:
    """The export's NDJSON files (`.ndjson`, `.ndjson.gz`) in name order."""
    root = Path(directory)
    if not root.is_dir():
        raise InputError(f"{directory} is not a directory")
    paths = sorted(p for p in root.iterdir() if p.is_file() and p.name.endswith(SUFFIXES))
    if not paths:
        raise InputError(f"no .ndjson or .ndjson.gz files in {directory}")
    return [
        InputFile(i, p, p.name, p.stat().st_size, p.name.endswith(".gz"))
        for i, p in enumerate(paths)
    ]


def open_binary(f: InputFile) -> IO[bytes]:
    if f.gz:
        return io.BufferedReader(gzip.GzipFile(f.path, "rb"), buffer_size=_BUFFER)
    return open(f.path, "rb", buffering=_BUFFER)


@dataclass(frozen=True)
class LongLine:
    """A line longer than the limit, skipped without being held in memory."""

    size: int  # bytes, without the line end


def read_lines(
    f: InputFile,
    tell: Callable[[int], None] | None = None,
    max_line_bytes: int | None = None,
) -> Iterator[tuple[int, bytes | LongLine]]:
    """(byte offset in the uncompressed file, line without its end) of every line; a line over
    `max_line_bytes` comes as a LongLine instead (read in blocks and dropped). `tell` gets the
    number of bytes read on disk from time to time (for progress)."""
    offset = 0
    cap = -1 if max_line_bytes is None else max_line_bytes + 2  # room for "\r\n"
    with open_binary(f) as stream:
        raw = stream.raw if f.gz else None  # type: ignore[attr-defined]
        n = 0
        while line := stream.readline(cap):
            start = offset
            offset += len(line)
            if n == 0 and line.startswith(_BOM):
                line = line[len(_BOM) :]
            content = line.rstrip(b"\r\n")
            if max_line_bytes is not None and len(content) > max_line_bytes:
                size = len(content)
                while not line.endswith(b"\n") and (line := stream.readline(_BUFFER)):
                    offset += len(line)
                    size += len(line.rstrip(b"\r\n"))
                yield start, LongLine(size)
            else:
                yield start, content
            if tell is not None and n % 4096 == 0:
                tell(_disk_position(f, stream, raw))
            n += 1
    if tell is not None:
        tell(f.size)


def refuse_symlinks(paths: list[Path]) -> None:
    """InputError when any of `paths` is a symbolic link (nothing is written through one)."""
    for path in paths:
        if path.is_symlink():
            raise InputError(
                f"{path} is a symbolic link; refusing to write through it (remove it, or "
                "choose another --output)"
            )


def create_new(path: Path) -> BinaryIO:
    """A new file at `path`, opened for binary writing: a stale entry there (an old temporary
    file, or a planted symlink) is removed first (the link itself, never its target), then the
    file is created exclusively without following links, so a link planted in between makes
    this fail rather than write elsewhere."""
    if path.is_symlink() or path.exists():
        path.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except FileExistsError:
        raise InputError(f"{path} appeared while it was being created; refusing") from None
    return os.fdopen(fd, "wb")


def _disk_position(f: InputFile, stream: IO[bytes], raw: Any) -> int:
    try:
        if f.gz and raw is not None:
            return int(raw.fileobj.tell())
        return stream.tell()
    except (OSError, AttributeError, ValueError):
        return 0


def line_number(f: InputFile, offset: int) -> int:
    """The 1-based line number of the line starting at `offset` (uncompressed bytes)."""
    count = 0
    left = offset
    with open_binary(f) as stream:
        while left > 0:
            block = stream.read(min(left, _BUFFER))
            if not block:
                break
            count += block.count(b"\n")
            left -= len(block)
    return count + 1


_TRANSACTION_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})")


def manifest_date(directory: str | Path) -> date | None:
    """The date of the export's `transactionTime` (manifest.json), when there is one."""
    path = Path(directory) / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = data.get("transactionTime") if isinstance(data, dict) else None
    m = _TRANSACTION_TIME.match(value) if isinstance(value, str) else None
    try:
        return date.fromisoformat(m[1]) if m else None
    except ValueError:
        return None


__all__ = [
    "HAVE_ORJSON",
    "InputFile",
    "LongLine",
    "create_new",
    "dumps",
    "find_inputs",
    "line_number",
    "loads",
    "manifest_date",
    "read_lines",
    "refuse_symlinks",
]
