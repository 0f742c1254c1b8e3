"""The workspace: one directory holding one DuckDB file, its migrations, reports and exports."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb

from segmint.config import duckdb_memory_limit, get_settings
from segmint.errors import WorkspaceError

DB_NAME = "segmint.duckdb"


def utcnow() -> datetime:
    """The time now in UTC, naive, as the workspace's TIMESTAMP columns hold it."""
    return datetime.now(UTC).replace(tzinfo=None)


def database_directory(con: duckdb.DuckDBPyConnection) -> Path:
    """The workspace directory of a connection to a workspace's database file."""
    rows = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchall()
    if not rows or not rows[0][0]:
        raise WorkspaceError("this connection is not to a workspace's database file")
    return Path(rows[0][0]).resolve().parent


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("segmint.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


class Workspace:
    """A segmint workspace directory.

    Parameters
    ----------
    path : str or Path
        Directory of the workspace; its database is ``path/segmint.duckdb``.

    Examples
    --------
    >>> ws = Workspace("my-workspace")            # doctest: +SKIP
    >>> with ws.connect() as con:                 # doctest: +SKIP
    ...     con.sql("SELECT count(*) FROM transactions").fetchall()[0]
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def db_path(self) -> Path:
        return self.path / DB_NAME

    @property
    def exists(self) -> bool:
        return self.db_path.is_file()

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    @contextmanager
    def connect(
        self, *, create: bool = False, read_only: bool = False
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the workspace database, applying pending migrations.

        Parameters
        ----------
        create : bool, default=False
            Create the workspace if it does not exist. If the ``with`` block then fails, a
            workspace created here is removed again, so a failed first command leaves nothing.
        read_only : bool, default=False
            Open without write access (several readers may share the file).
        """
        created = False
        if not self.exists:
            if not create:
                raise WorkspaceError(
                    f"no workspace at {self.path}; run `segmint run` or `segmint demo` first, "
                    "or pass --workspace"
                )
            created_dir = not self.path.exists()
            self.path.mkdir(parents=True, exist_ok=True)
            created = True
        try:
            con = duckdb.connect(str(self.db_path), read_only=read_only and not created)
        except duckdb.IOException as exc:
            raise _open_error(exc, self.path) from None
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET memory_limit = ?", [duckdb_memory_limit(get_settings().memory_limit)])
            con.execute("SET temp_directory = ?", [str(self.path / ".tmp")])
            if not read_only or created:
                _migrate(con)
            yield con
        except BaseException:
            con.close()
            if created:
                self.db_path.unlink(missing_ok=True)
                Path(str(self.db_path) + ".wal").unlink(missing_ok=True)
                if created_dir:
                    shutil.rmtree(self.path, ignore_errors=True)
            raise
        else:
            con.close()

    @contextmanager
    def transaction(self, *, create: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Connect and run the block in one transaction: all of it is stored, or none."""
        with self.connect(create=create) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def compact(self) -> None:
        """Rewrite the database file with only its live data.

        DuckDB leaves deleted rows' bytes in the file's free blocks (measured: a deleted
        customer's id still found by a byte search after CHECKPOINT and VACUUM), so an erasure
        is only complete once the file is rewritten: every table is copied into a new file,
        which then replaces the old one atomically. Needs the workspace to itself.
        """
        fresh = self.path / (DB_NAME + ".compact")
        fresh.unlink(missing_ok=True)
        try:
            con = duckdb.connect(str(fresh))
        except duckdb.IOException as exc:
            raise _open_error(exc, self.path) from None
        try:
            try:
                con.execute("ATTACH ? AS old (READ_ONLY)", [str(self.db_path)])
            except duckdb.IOException as exc:
                raise _open_error(exc, self.path) from None
            name = con.execute("SELECT current_database()").fetchall()[0][0]
            con.execute(f'COPY FROM DATABASE old TO "{name}"')
            con.execute("DETACH old")
            con.execute("CHECKPOINT")
        except BaseException:
            con.close()
            fresh.unlink(missing_ok=True)
            raise
        con.close()
        with open(fresh, "rb") as f:
            os.fsync(f.fileno())
        os.replace(fresh, self.db_path)
        Path(str(self.db_path) + ".wal").unlink(missing_ok=True)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


#: DuckDB's message when another process holds the file's lock names that process
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")


def _open_error(exc: duckdb.IOException, path: Path) -> WorkspaceError:
    """One line for the user: which process holds the workspace, and what to do about it."""
    found = _LOCK_HOLDER.search(str(exc))
    if found is None:
        return WorkspaceError(f"cannot open workspace {path}: {exc}")
    pid = int(found.group(2))
    return WorkspaceError(
        f"workspace {path} is in use by process {pid} ({_command_line(pid) or found.group(1)}); "
        f"stop that process (Ctrl-C where it runs, or `kill {pid}`) and retry, or, while "
        "`segmint serve` runs, use its API: POST /v1/runs to refit, /v1/keys for keys"
    )


def _command_line(pid: int) -> str | None:
    """The command a process runs (Linux), shortened to one readable line."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    if not words:
        return None
    words[0] = Path(words[0]).name
    line = " ".join(words)
    return line if len(line) <= 120 else line[:117] + "..."


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    # every migration not yet applied, not only those above the highest: branches developed
    # side by side add migrations whose numbers may land out of order
    applied = {v for (v,) in con.execute("SELECT version FROM schema_version").fetchall()}
    for version, sql in _migrations():
        if version not in applied:
            con.execute("BEGIN TRANSACTION")
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?)", [version])
            con.execute("COMMIT")
