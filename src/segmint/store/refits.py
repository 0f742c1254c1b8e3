"""Refits of the service, recorded as they start and finish."""

from __future__ import annotations

from datetime import datetime

import duckdb

from segmint.store.workspace import utcnow

__all__ = ["finish_refit", "interrupt_unfinished", "latest_refit", "start_refit"]

_COLUMNS = "refit_id, trigger, state, started_at, finished_at, run_id, error"


def start_refit(con: duckdb.DuckDBPyConnection, *, trigger: str, started_at: datetime) -> int:
    """Record a refit as running; return its id."""
    rows = con.execute(
        """INSERT INTO refits SELECT coalesce(max(refit_id), 0) + 1, ?, 'running', ?, NULL,
                  NULL, NULL FROM refits
           RETURNING refit_id""",
        [trigger, started_at],
    ).fetchall()
    return int(rows[0][0])


def finish_refit(
    con: duckdb.DuckDBPyConnection,
    refit_id: int,
    *,
    state: str,
    finished_at: datetime,
    run_id: int | None = None,
    error: str | None = None,
) -> None:
    con.execute(
        "UPDATE refits SET state = ?, finished_at = ?, run_id = ?, error = ? WHERE refit_id = ?",
        [state, finished_at, run_id, error, refit_id],
    )


def interrupt_unfinished(con: duckdb.DuckDBPyConnection, reason: str) -> int:
    """Mark refits still recorded as running (their process died) interrupted; return how many.

    Called when the service starts, before it can start a refit of its own.
    """
    rows = con.execute(
        """UPDATE refits SET state = 'interrupted', finished_at = ?, error = ?
           WHERE state = 'running' RETURNING refit_id""",
        [utcnow(), reason],
    ).fetchall()
    return len(rows)


def latest_refit(con: duckdb.DuckDBPyConnection) -> dict | None:
    rows = con.execute(f"SELECT {_COLUMNS} FROM refits ORDER BY refit_id DESC LIMIT 1").fetchall()
    return dict(zip(_COLUMNS.split(", "), rows[0], strict=True)) if rows else None
