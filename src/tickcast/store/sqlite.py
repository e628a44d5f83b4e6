"""`SQLiteTickLog`: the default tick log, one SQLite file in WAL mode.

WAL lets the loop read old ticks (catch-up, `tickcast export`) while the
writer thread commits, and makes a commit one sequential append to the WAL.
`synchronous=NORMAL` (durability "normal") survives any crash of the process:
a committed transaction is in the OS page cache, and the OS writes it even if
we are SIGKILLed; `FULL` also fsyncs the WAL at every commit, so it survives a
power loss too, at the cost of one fsync per tick cycle.

The recorder uses two connections: one for writes, opened (and checked) on
the loop before listening and from then on used only by its writer thread,
and one on the loop for short chunked catch-up reads.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from tickcast.store.datadir import DataDirLock
from tickcast.store.errors import (
    FULL_ERRNOS,
    DamagedLog,
    DiskFull,
    LogIOError,
    disk_full_message,
)
from tickcast.store.log import (
    Cycle,
    Kick,
    MatchInfo,
    Presence,
    StoreError,
)

DB_NAME = "ticks.sqlite3"
CHECKPOINT_EVERY = 32  # commits between background WAL checkpoints (no timer: an idle
# server must not wake up)
BACKSTOP_CHECKPOINT_PAGES = 20_000  # ~80 MB of WAL: the commit checkpoints itself after all
ROWS_PER_INSERT = 2000  # x 3 parameters: under SQLite's default limit of 32,766
_INSERT_TICKS: dict[int, str] = {}  # statement text by row count (the cache keeps them prepared)
SCHEMA_VERSION = 2
PART_COLUMNS = {
    "match_key": "TEXT NOT NULL DEFAULT ''",
    "first_tick": "INTEGER NOT NULL DEFAULT 1",
    "base_chain": "BLOB NOT NULL DEFAULT x''",
}
"""Schema 2: a cluster node's part of a match (`MatchStart.match_key` and friends)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS matches (
    id INTEGER PRIMARY KEY,
    room TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    end_reason TEXT NOT NULL DEFAULT '',
    tick_rate INTEGER NOT NULL,
    players TEXT NOT NULL DEFAULT '',
    tick_count INTEGER NOT NULL DEFAULT 0,
    server_id TEXT NOT NULL DEFAULT ''
    -- + PART_COLUMNS (added by ALTER TABLE, so a log of schema 1 gains them too)
);
CREATE TABLE IF NOT EXISTS ticks (
    match_id INTEGER NOT NULL,
    number INTEGER NOT NULL,
    frame BLOB NOT NULL,
    PRIMARY KEY (match_id, number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS presence (
    match_id INTEGER NOT NULL,
    tick INTEGER NOT NULL,
    slot INTEGER NOT NULL,
    player_id TEXT NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS presence_match ON presence (match_id, tick);
CREATE TABLE IF NOT EXISTS kicks (
    match_id INTEGER NOT NULL,
    at REAL NOT NULL,
    player_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kicks_match ON kicks (match_id);
"""

FIX_HINT = (
    "move it aside and start again (the server then starts a new, empty log), or try "
    "`sqlite3 {path} '.recover' | sqlite3 recovered.sqlite3` to salvage what is readable"
)


def _writable(directory: Path) -> bool:
    return os.access(directory, os.W_OK | os.X_OK)


def sqlite_store_error(
    exc: BaseException, what: str, path: os.PathLike[str] | str
) -> StoreError | None:
    """The StoreError an sqlite3 error stands for when it is the disk's doing (full, or
    failing), so that neither is ever reported as a damaged log; None otherwise."""
    name = getattr(exc, "sqlite_errorname", "")
    if not isinstance(exc, sqlite3.Error) or not isinstance(name, str):
        return None
    if name == "SQLITE_FULL":
        return DiskFull(disk_full_message(path, what))
    if name.startswith("SQLITE_IOERR"):
        return LogIOError(
            f"{what} {path} failed with an I/O error ({exc}): the disk or its file system "
            "is failing (check the kernel log); the tick log itself is not known to be damaged"
        )
    return None


def db_path(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / DB_NAME


class SQLiteTickLog:
    """A `TickLog` in one SQLite database file. See the module docstring."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        durability: str = "normal",
        create: bool = True,
        check: bool = False,
        background_checkpoints: bool = False,
        lock: bool = True,
    ) -> None:
        """`create` opens for writing: it creates the data dir and the log if needed
        and (`lock`) takes the data dir's lock, so that a second server on the same
        dir is refused (`DataDirLocked`, naming the holder's pid) instead of
        interleaving its matches with ours. Readers (`create=False`) take no lock."""
        self.path = db_path(data_dir)
        self._checkpointer: threading.Thread | None = None
        self._closing = threading.Event()
        self._checkpoint_due = threading.Event()
        self._commits = 0
        self._dir_lock = DataDirLock(data_dir)
        if not create and not self.path.exists():
            raise StoreError(f"no tick log at {self.path}")
        if create:
            self._prepare_dir(Path(data_dir))
            if lock:
                self._dir_lock.acquire()
        try:
            self._open(durability, create, check, background_checkpoints)
        except BaseException:
            self._dir_lock.release()
            raise

    def _open(
        self, durability: str, create: bool, check: bool, background_checkpoints: bool
    ) -> None:
        existed = self.path.exists() and self.path.stat().st_size > 0
        try:
            self.db = sqlite3.connect(
                self.path, isolation_level=None, timeout=30.0, check_same_thread=False
            )
        except sqlite3.Error as exc:
            known = sqlite_store_error(exc, "opening", self.path)
            raise known or StoreError(f"cannot open the tick log {self.path}: {exc}") from None
        try:
            if existed and check:
                self._quick_check()
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
            if create:
                if not existed:
                    # must precede the first table: lets prune() give pages back to the OS
                    self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
                self.db.executescript(SCHEMA)
                self.db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
                )
            self._add_part_columns()  # readers too: `tickcast matches` over a schema-1 log
            if background_checkpoints:
                self._start_checkpointer()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            if "readonly" in str(exc) or "read-only" in str(exc):
                raise StoreError(
                    f"the tick log {self.path} is not writable ({exc}): fix the permissions "
                    "of the file and its directory, or choose another --data-dir"
                ) from None
            known = sqlite_store_error(exc, "opening", self.path)
            if known is not None:
                raise known from None
            if not existed:  # a file that never had content cannot be damaged
                raise StoreError(f"cannot create the tick log {self.path}: {exc}") from None
            raise DamagedLog(
                f"the tick log {self.path} is damaged ({exc}): " + FIX_HINT.format(path=self.path)
            ) from None

    def _add_part_columns(self) -> None:
        have = {row[1] for row in self.db.execute("PRAGMA table_info(matches)")}
        for name, decl in PART_COLUMNS.items():
            if have and name not in have:
                self.db.execute(f"ALTER TABLE matches ADD COLUMN {name} {decl}")

    @staticmethod
    def _prepare_dir(data_dir: Path) -> None:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if exc.errno in FULL_ERRNOS:
                raise DiskFull(disk_full_message(data_dir, "creating the data dir")) from None
            raise StoreError(f"cannot create the data dir {data_dir}: {exc.strerror}") from None
        if not _writable(data_dir):
            raise StoreError(
                f"the data dir {data_dir} is not writable by this user: "
                "fix its permissions, or choose another with --data-dir"
            )

    def _quick_check(self) -> None:
        try:
            rows = self.db.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:
            rows = [(str(exc),)]
        if rows != [("ok",)]:
            problems = "; ".join(str(r[0]) for r in rows[:3])
            raise StoreError(
                f"the tick log {self.path} failed PRAGMA quick_check ({problems}); "
                "refusing to start over it: " + FIX_HINT.format(path=self.path)
            )

    # ------------------------------------------------------------ writes

    def next_match_id(self) -> int:
        row = self.db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM matches").fetchone()
        return int(row[0])

    def write_cycle(self, cycle: Cycle) -> None:
        db = self.db
        db.execute("BEGIN")
        try:
            if cycle.begins:
                db.executemany(
                    "INSERT INTO matches (id, room, started_at, tick_rate, server_id, match_key, "
                    "first_tick, base_chain) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (b.id, b.room, b.started_at, b.tick_rate, b.server_id, b.match_key,
                         b.first_tick, b.base_chain)
                        for b in cycle.begins
                    ],
                )
            if cycle.ticks:
                self._insert_ticks(cycle.ticks)
            if cycle.presence:
                self._presence(cycle.presence)
            if cycle.kicks:
                db.executemany(
                    "INSERT INTO kicks VALUES (?, ?, ?, ?, ?)",
                    [(k.match_id, k.at, k.player_id, k.reason, k.detail) for k in cycle.kicks],
                )
            for e in cycle.ends:
                db.execute(
                    "UPDATE matches SET ended_at = ?, end_reason = ?, tick_count = "
                    "(SELECT COALESCE(MAX(number), 0) FROM ticks WHERE match_id = ?) "
                    "WHERE id = ?",
                    (e.ended_at, e.reason, e.id, e.id),
                )
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            known = sqlite_store_error(exc, "writing", self.path)
            if known is not None:
                raise known from exc
            raise
        self._commits += 1
        if self._checkpointer is not None and self._commits % CHECKPOINT_EVERY == 0:
            self._checkpoint_due.set()

    def _insert_ticks(self, ticks: list[tuple[int, int, bytes]]) -> None:
        """One multi-row INSERT per chunk: the sqlite3 module releases the GIL for each
        statement step, and a writer thread that must win the GIL back from a busy loop
        once per row (executemany) would wait a switch interval (5 ms) per row."""
        for i in range(0, len(ticks), ROWS_PER_INSERT):
            chunk = ticks[i : i + ROWS_PER_INSERT]
            sql = _INSERT_TICKS.get(len(chunk))
            if sql is None:
                sql = "INSERT INTO ticks VALUES " + ",".join(["(?,?,?)"] * len(chunk))
                if len(_INSERT_TICKS) < 64:
                    _INSERT_TICKS[len(chunk)] = sql
            self.db.execute(sql, [v for row in chunk for v in row])

    def _presence(self, changes: list[Presence]) -> None:
        """Presence rows, as the rooms recorded them (never parsed from the frames)."""
        rows: list[tuple[int, int, int, str, str]] = []
        for p in changes:
            rows.extend((p.match_id, p.tick, slot, pid, "join") for slot, pid in p.joined)
            rows.extend((p.match_id, p.tick, slot, "", "leave") for slot in p.left)
        self.db.executemany("INSERT INTO presence VALUES (?, ?, ?, ?, ?)", rows)
        for match_id in {r[0] for r in rows if r[4] == "join"}:
            self.db.execute(
                "UPDATE matches SET players = (SELECT group_concat(player_id, ',') FROM "
                "(SELECT player_id FROM presence WHERE match_id = ? AND event = 'join' "
                "GROUP BY player_id ORDER BY MIN(rowid))) WHERE id = ?",
                (match_id, match_id),
            )

    # ------------------------------------------------------------ reads

    def read_ticks(
        self, match_id: int, first: int, last: int | None = None, limit: int = 256
    ) -> list[tuple[int, bytes]]:
        if last is None:
            last = 1 << 62
        rows = self.db.execute(
            "SELECT number, frame FROM ticks WHERE match_id = ? AND number BETWEEN ? AND ? "
            "ORDER BY number LIMIT ?",
            (match_id, first, last, limit),
        ).fetchall()
        return [(int(n), bytes(f)) for n, f in rows]

    _MATCH_COLUMNS = (
        "id, room, started_at, ended_at, end_reason, tick_rate, players, "
        "CASE WHEN ended_at IS NULL THEN "
        "(SELECT COALESCE(MAX(number), 0) FROM ticks WHERE match_id = matches.id) "
        "ELSE tick_count END, server_id, match_key, first_tick, base_chain"
    )

    @staticmethod
    def _info(row: tuple[object, ...]) -> MatchInfo:
        mid, room, started, ended, reason, rate, players, count, server_id, key, first, base = row
        return MatchInfo(
            id=int(mid),  # type: ignore[call-overload]
            room=str(room),
            started_at=float(started),  # type: ignore[arg-type]
            ended_at=None if ended is None else float(ended),  # type: ignore[arg-type]
            end_reason=str(reason),
            tick_rate=int(rate),  # type: ignore[call-overload]
            players=[p for p in str(players or "").split(",") if p],
            tick_count=int(count),  # type: ignore[call-overload]
            server_id=str(server_id),
            match_key=str(key),
            first_tick=int(first),  # type: ignore[call-overload]
            base_chain=bytes(base),  # type: ignore[call-overload]
        )

    def matches(self) -> list[MatchInfo]:
        rows = self.db.execute(f"SELECT {self._MATCH_COLUMNS} FROM matches ORDER BY id")
        return [self._info(r) for r in rows.fetchall()]

    def match(self, match_id: int) -> MatchInfo | None:
        row = self.db.execute(
            f"SELECT {self._MATCH_COLUMNS} FROM matches WHERE id = ?", (match_id,)
        ).fetchone()
        return None if row is None else self._info(row)

    def kicks(self, match_id: int) -> list[Kick]:
        rows = self.db.execute(
            "SELECT match_id, at, player_id, reason, detail FROM kicks WHERE match_id = ? "
            "ORDER BY rowid",
            (match_id,),
        ).fetchall()
        return [Kick(int(m), float(a), str(p), str(r), str(d)) for m, a, p, r, d in rows]

    # ------------------------------------------------------------ retention

    def size_bytes(self) -> int:
        """Bytes in use (pages not on the free list), WAL excluded."""
        page_size = self.db.execute("PRAGMA page_size").fetchone()[0]
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        free = self.db.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page_size)

    def prune(self, older_than: float | None, max_bytes: int | None) -> list[int]:
        ended = self.db.execute(
            "SELECT id, ended_at FROM matches WHERE ended_at IS NOT NULL ORDER BY ended_at, id"
        ).fetchall()
        deleted: list[int] = []
        for match_id, ended_at in ended:
            old = older_than is not None and ended_at < older_than
            over = bool(max_bytes) and self.size_bytes() > (max_bytes or 0)
            if not (old or over):
                break  # sorted by end time: nothing later is older, and size is fine
            self._delete_match(int(match_id))
            deleted.append(int(match_id))
        if deleted:
            self.db.execute("PRAGMA incremental_vacuum")
        return deleted

    def _delete_match(self, match_id: int) -> None:
        db = self.db
        db.execute("BEGIN")
        try:
            for table in ("ticks", "presence", "kicks"):
                db.execute(f"DELETE FROM {table} WHERE match_id = ?", (match_id,))
            db.execute("DELETE FROM matches WHERE id = ? AND ended_at IS NOT NULL", (match_id,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _start_checkpointer(self) -> None:
        """Copy the WAL back into the database from a thread of its own.

        SQLite's automatic checkpoint runs inside the commit that crosses the WAL
        limit, and (durability normal or full) fsyncs the database: a commit that
        waits for that delays a whole tick cycle. A PASSIVE checkpoint on another
        connection never blocks the writer; the automatic one stays as a backstop
        at a limit it should not reach."""
        self.db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_CHECKPOINT_PAGES}")
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)

        def run() -> None:
            try:
                while True:
                    self._checkpoint_due.wait()
                    self._checkpoint_due.clear()
                    if self._closing.is_set():
                        return
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:  # a failing disk: the writer reports it
                pass
            finally:
                conn.close()

        self._checkpointer = threading.Thread(target=run, name="tickcast-checkpoint", daemon=True)
        self._checkpointer.start()

    def close(self) -> None:
        self._closing.set()
        self._checkpoint_due.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        self.db.close()
        self._dir_lock.release()
