"""State shared by the worker processes of `trd-fhir serve --workers N`, in one SQLite file.

    store = SharedStore.open(Path(settings.state_dir))     # <state_dir>/service-state.sqlite3
    verifier = CdsJwtVerifier(..., replay=store.replay(max_entries))
    limiter = store.rate_limiter("launch", per_minute=60)
    launches = store.launches(limit=..., per_client=...)
    sessions = store.sessions()                           # the SMART app's (smart_app.py)
    notices = store.notices()                             # Subscriptions de-duplication

What must hold whichever worker answers: a CDS client JWT accepted by one worker is refused by
every other (the replay cache), a SMART launch started on one worker finishes on another and its
session works on all (pending launches, sessions), a client's request budget is one budget
(rate limits), and a notification delivered twice is handled once (de-duplication). Each
implements the interface the one-process, in-memory store implements (ReplayStore,
PendingLaunches, RateLimiter, the session store, RecentKeys), with the same rules.

SQLite runs here with no extra service: the file is opened by every worker in WAL mode (readers
never wait for the writer), each thread with its own connection, `busy_timeout` for the short
write transactions, and every check-and-update in one `BEGIN IMMEDIATE` transaction, so two
workers cannot both accept one token or both spend a budget's last request. Expired rows are
deleted as new ones come. The directory is created private (0700), the file 0600: it holds SMART
access and refresh tokens (never logged). Pending launches and sessions are stored as pickles of
the app's own frozen dataclasses; only this service writes the file, and nobody else may be able
to write to `state_dir` (whoever can could also change the service's code).

Rate limits take `time.monotonic()`, which on Linux is one clock for every process of the
machine; the store is a local file, so every worker is on one machine.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ..auth.smart import USED_MEMORY, PendingLaunch, StateError
from ..errors import BusyError, SettingsError, ThrottledError

T = TypeVar("T")
FILE_NAME = "service-state.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS replay (iss TEXT, jti TEXT, until REAL, PRIMARY KEY (iss, jti));
CREATE INDEX IF NOT EXISTS replay_until ON replay (until);
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT, key TEXT, tokens REAL, at REAL, PRIMARY KEY (name, key));
CREATE INDEX IF NOT EXISTS buckets_at ON buckets (name, at);
CREATE TABLE IF NOT EXISTS launches (
    state TEXT PRIMARY KEY, client TEXT, expires REAL, used_until REAL, data BLOB);
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, expires REAL, data BLOB);
CREATE TABLE IF NOT EXISTS notices (key TEXT PRIMARY KEY, seen REAL);
CREATE TABLE IF NOT EXISTS counts (name TEXT PRIMARY KEY, n INTEGER);
"""
RECENT_SECONDS = 24 * 3600.0  # a notification key is remembered this long (and RECENT_MAX keys)
RECENT_MAX = 100_000


def _private(directory: Path, path: Path) -> None:
    """The store holds the service's own pickles: nobody but the service's user may write to it,
    or a swapped file would run code in the service. SettingsError when the folder or the file
    belongs to another user or others may write to it."""
    for item in (directory, path):
        info = item.lstat()
        if stat.S_ISLNK(info.st_mode):
            raise SettingsError(f"state_dir: {str(item)!r} is a symbolic link; refused")
        if info.st_uid != os.getuid():
            raise SettingsError(f"state_dir: {str(item)!r} belongs to another user; refused")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise SettingsError(
                f"state_dir: {str(item)!r} is writable by others; make it private (chmod 700 "
                "for the folder, 600 for the file)"
            )


class SharedStore:
    """One SQLite file in WAL mode; a connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connection().executescript(SCHEMA)  # its own transaction (IF NOT EXISTS)

    @classmethod
    def open(cls, state_dir: str | Path) -> SharedStore:
        directory = Path(state_dir)
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = directory / FILE_NAME
            if not path.exists():
                path.touch(mode=0o600)
            _private(directory, path)
            return cls(path)
        except (OSError, sqlite3.Error) as exc:
            raise SettingsError(f"state_dir {str(directory)!r} is not usable: {exc}") from None

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at its start (BEGIN IMMEDIATE): check-and-update is
        atomic across processes."""
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- the stores ------------------------------------------------------------------------------
    def replay(self, max_entries: int) -> SharedReplayCache:
        return SharedReplayCache(self, max_entries)

    def rate_limiter(self, name: str, per_minute: int) -> SharedTokenBuckets:
        return SharedTokenBuckets(self, name, per_minute)

    def launches(
        self, *, limit: int, per_client: int, clock: Callable[[], float] = time.time
    ) -> SharedLaunches:
        return SharedLaunches(self, limit=limit, per_client=per_client, clock=clock)

    def sessions(self, limit: int) -> SharedSessions:
        return SharedSessions(self, limit)

    def notices(self) -> SharedRecentKeys:
        return SharedRecentKeys(self)


class SharedReplayCache:
    """auth.cds_jwt.ReplayStore: (iss, jti) pairs accepted by any worker, until they expire."""

    def __init__(self, store: SharedStore, max_entries: int) -> None:
        self.store = store
        self.max_entries = max_entries

    def __len__(self) -> int:
        with self.store.transaction() as db:
            return int(db.execute("SELECT count(*) FROM replay").fetchone()[0])  # tests only

    def first_use(self, iss: str, jti: str, until: float, now: float) -> bool:
        with self.store.transaction() as db:
            # the entry count is kept in `counts` (a count(*) would scan the whole table)
            row = db.execute("SELECT n FROM counts WHERE name = 'replay'").fetchone()
            if row is None:  # a new file
                row = db.execute("SELECT count(*) FROM replay").fetchone()
            count = int(row[0])
            count -= db.execute("DELETE FROM replay WHERE until <= ?", (now,)).rowcount
            seen = db.execute("SELECT 1 FROM replay WHERE iss = ? AND jti = ?", (iss, jti))
            first = seen.fetchone() is None
            if first and count >= self.max_entries:
                (oldest,) = db.execute("SELECT min(until) FROM replay").fetchone()
                db.execute("INSERT OR REPLACE INTO counts VALUES ('replay', ?)", (count,))
                raise BusyError(
                    "too many CDS calls at once: the JWT replay cache is full; retry shortly",
                    retry_after=float(oldest) - now,
                )
            if first:
                db.execute("INSERT INTO replay VALUES (?, ?, ?)", (iss, jti, until))
                count += 1
            db.execute("INSERT OR REPLACE INTO counts VALUES ('replay', ?)", (count,))
            return first


class SharedTokenBuckets:
    """ratelimit.RateLimiter: TokenBuckets' rule (a minute's worth in a burst, refilled
    steadily) with one bucket per key for all workers; idle, full buckets are deleted."""

    def __init__(self, store: SharedStore, name: str, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError("a rate limit needs at least 1 request a minute")
        self.store = store
        self.name = name
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0

    def hit(self, key: str, now: float) -> float | None:
        full_after = self.capacity / self.rate  # seconds for an empty bucket to fill
        with self.store.transaction() as db:
            db.execute(
                "DELETE FROM buckets WHERE name = ? AND at < ?", (self.name, now - full_after)
            )
            row = db.execute(
                "SELECT tokens, at FROM buckets WHERE name = ? AND key = ?", (self.name, key)
            ).fetchone()
            tokens, at = row if row is not None else (self.capacity, now)
            tokens = min(self.capacity, tokens + max(0.0, now - at) * self.rate)
            allowed = tokens >= 1.0
            left = tokens - 1.0 if allowed else tokens
            db.execute(
                "INSERT OR REPLACE INTO buckets VALUES (?, ?, ?, ?)", (self.name, key, left, now)
            )
        return None if allowed else (1.0 - tokens) / self.rate


class SharedLaunches:
    """auth.smart.PendingLaunches: LaunchStore's rules (single use, expiry, bounded overall and
    per client address, a used state remembered) for all workers."""

    def __init__(
        self, store: SharedStore, *, limit: int, per_client: int, clock: Callable[[], float]
    ) -> None:
        self.store = store
        self._limit = limit
        self._per_client = per_client
        self._clock = clock

    def __len__(self) -> int:
        with self.store.transaction() as db:
            sql = "SELECT count(*) FROM launches WHERE data IS NOT NULL"
            return int(db.execute(sql).fetchone()[0])

    def put(self, pending: PendingLaunch, *, client: str = "") -> None:
        now = self._clock()
        with self.store.transaction() as db:
            self._sweep(db, now)
            mine = db.execute(
                "SELECT count(*), min(expires) FROM launches "
                "WHERE data IS NOT NULL AND expires >= ? AND client = ?",
                (now, client),
            ).fetchone()
            if client and mine[0] >= self._per_client:
                raise ThrottledError(
                    "too many launches are waiting for their sign-in from this address; "
                    "finish one or wait for it to expire",
                    retry_after=float(mine[1]) - now,
                )
            total = db.execute(
                "SELECT count(*), min(expires) FROM launches "
                "WHERE data IS NOT NULL AND expires >= ?",
                (now,),
            ).fetchone()
            if total[0] >= self._limit:
                raise BusyError(
                    "the app is busy: too many sign-ins are in progress; try again shortly",
                    retry_after=float(total[1]) - now,
                )
            db.execute(
                "INSERT OR REPLACE INTO launches VALUES (?, ?, ?, NULL, ?)",
                (pending.state, client, pending.expires, pickle.dumps(pending)),
            )

    def take(self, state: str | None) -> PendingLaunch:
        if not state:
            raise StateError("the authorization response has no state", reason="unknown")
        now = self._clock()
        with self.store.transaction() as db:
            self._sweep(db, now)
            row = db.execute("SELECT data FROM launches WHERE state = ?", (state,)).fetchone()
            if row is None:
                raise StateError("unknown state: this launch is not ours", reason="unknown")
            if row[0] is None:
                raise StateError("this authorization response was already used", reason="used")
            db.execute(
                "UPDATE launches SET data = NULL, used_until = ? WHERE state = ?",
                (now + USED_MEMORY, state),
            )
        pending = _load(row[0], PendingLaunch)
        if pending.expires < now:
            raise StateError("the launch expired; launch the app again", reason="expired")
        return pending

    @staticmethod
    def _sweep(db: sqlite3.Connection, now: float) -> None:
        db.execute(
            "DELETE FROM launches WHERE (data IS NULL AND used_until < ?) "
            "OR (data IS NOT NULL AND expires < ?)",
            (now, now - USED_MEMORY),
        )


class SharedSessions:
    """Sessions of the SMART app by id for all workers: rows of (expires, pickled record);
    smart_app.py turns a record into its per-process session object and writes the record back
    when the tokens are refreshed. At most `limit` sessions (the soonest to expire go first)."""

    def __init__(self, store: SharedStore, limit: int) -> None:
        self.store = store
        self.limit = limit

    def put(self, key: str, expires: float, record: Any) -> None:
        now = time.time()
        with self.store.transaction() as db:
            db.execute("DELETE FROM sessions WHERE expires < ?", (now,))
            (count,) = db.execute("SELECT count(*) FROM sessions WHERE id != ?", (key,)).fetchone()
            if count >= self.limit:
                db.execute(
                    "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions ORDER BY expires "
                    "LIMIT ?)",
                    (count - self.limit + 1,),
                )
            db.execute(
                "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)",
                (key, expires, pickle.dumps(record)),
            )

    def get(self, key: str) -> Any | None:
        with self.store.transaction() as db:
            row = db.execute("SELECT expires, data FROM sessions WHERE id = ?", (key,)).fetchone()
            if row is not None and row[0] < time.time():
                db.execute("DELETE FROM sessions WHERE id = ?", (key,))
                return None
        return None if row is None else _load(row[1], object)

    def drop(self, key: str) -> None:
        with self.store.transaction() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (key,))


class SharedRecentKeys:
    """subscriptions.RecentKeys: notification keys already handled by any worker (kept
    RECENT_SECONDS, at most RECENT_MAX)."""

    def __init__(self, store: SharedStore) -> None:
        self.store = store

    def all_seen(self, keys: Iterable[str]) -> bool:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return True
        marks = ",".join("?" * len(wanted))
        with self.store.transaction() as db:
            sql = f"SELECT count(*) FROM notices WHERE key IN ({marks})"  # noqa: S608 (marks only)
            (found,) = db.execute(sql, wanted).fetchone()
        return bool(found == len(wanted))

    def remember(self, keys: Iterable[str]) -> None:
        now = time.time()
        with self.store.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO notices VALUES (?, ?)", [(k, now) for k in keys])
            db.execute("DELETE FROM notices WHERE seen < ?", (now - RECENT_SECONDS,))
            db.execute(
                "DELETE FROM notices WHERE key IN (SELECT key FROM notices ORDER BY seen DESC "
                "LIMIT -1 OFFSET ?)",
                (RECENT_MAX,),
            )

    def forget(self, keys: Iterable[str]) -> None:
        with self.store.transaction() as db:
            db.executemany("DELETE FROM notices WHERE key = ?", [(k,) for k in keys])


def _load(blob: bytes, kind: type[T]) -> T:
    """A pickle this service wrote into its own private file (see the module docstring)."""
    value = pickle.loads(blob)  # noqa: S301 (only this service writes the 0600 file)
    if not isinstance(value, kind):
        raise TypeError(f"the state file holds a {type(value).__name__}, not a {kind.__name__}")
    return value


def state_file(state_dir: str | Path) -> Path:
    return Path(state_dir) / FILE_NAME


__all__ = ["FILE_NAME", "SharedStore", "state_file"]
