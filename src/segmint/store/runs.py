"""Versioned runs: parameters, metrics, data fingerprint, and each run's stored results."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from importlib import resources

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from segmint.errors import RunNotFoundError, WorkspaceError

_MICRO_MIGRATION = "006_micro_segments.sql"


def data_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """A short hash of the stored transactions (row count, content keys, time span)."""
    row = con.execute(
        """SELECT count(*), coalesce(sum(line_key::HUGEINT), 0), min(ts), max(ts)
           FROM transactions"""
    ).fetchall()[0]
    return hashlib.sha256(repr(row).encode()).hexdigest()[:16]


def features_table(run_id: int) -> str:
    """Name of the table holding a run's per-customer features."""
    return f"run_features_{int(run_id)}"


def next_run_id(con: duckdb.DuckDBPyConnection) -> int:
    """The id the next run will get (1, 2, 3, ... per workspace)."""
    (run_id,) = con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM runs").fetchall()[0]
    return int(run_id)


def create_run(
    con: duckdb.DuckDBPyConnection,
    *,
    kind: str,
    as_of: datetime,
    params: dict,
    metrics: dict,
    fingerprint: str,
) -> int:
    """Record a run and return its id (1, 2, 3, ... per workspace)."""
    run_id = next_run_id(con)
    con.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            kind,
            datetime.now(UTC).replace(tzinfo=None),
            as_of,
            json.dumps(params, default=str),
            json.dumps(metrics, default=str),
            fingerprint,
        ],
    )
    return int(run_id)


def save_results(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    *,
    segments: pd.DataFrame,
    assignments: pd.DataFrame | pa.Table | ds.Dataset | duckdb.DuckDBPyRelation,
    features: pa.Table | ds.Dataset | duckdb.DuckDBPyRelation,
    micro_segments: pd.DataFrame | None = None,
) -> None:
    """Store a run's segments, micro-segments, per-customer assignments and features.

    The per-customer rows may be any table DuckDB scans: a frame, an Arrow table or dataset,
    a relation (a Parquet dataset is read as it is stored, not through memory).
    """
    seg = pd.DataFrame(
        {
            "run_id": run_id,
            "segment_id": segments["segment_id"].astype("int32"),
            "parent_id": pd.array([None] * len(segments), dtype="Int32"),
            "name": segments["name"].astype(str),
            "rule": segments["rule"].astype(str),
            "size": segments["size"].astype("int64"),
            "value_share": segments["value_share"].astype(float),
            "profile": [json.dumps(p, default=_json_default) for p in _profiles(segments)],
        }
    )
    con.register("_seg", seg)
    con.execute("INSERT INTO segments SELECT * FROM _seg")
    con.unregister("_seg")
    if micro_segments is not None:
        _save_micro_segments(con, run_id, micro_segments)
    columns = [
        "customer_id",
        "segment_id",
        "micro_segment_id",
        "confidence",
        "r_score",
        "f_score",
        "m_score",
        "rfm_group",
        "map_x",
        "map_y",
    ]
    con.register("_asg", assignments)
    con.execute(f"INSERT INTO assignments SELECT ?, {', '.join(columns)} FROM _asg", [run_id])
    con.unregister("_asg")
    con.register("_feat", features)
    con.execute(f"CREATE TABLE {features_table(run_id)} AS SELECT * FROM _feat")
    con.unregister("_feat")


def _save_micro_segments(con: duckdb.DuckDBPyConnection, run_id: int, micro: pd.DataFrame) -> None:
    rows = pd.DataFrame(
        {
            "run_id": run_id,
            "micro_segment_id": micro["micro_segment_id"].astype(str),
            "segment_id": micro["segment_id"].astype("int32"),
            "name": micro["name"].astype(str),
            "rule": micro["rule"].astype(str),
            "size": micro["size"].astype("int64"),
            "value_share": micro["value_share"].astype(float),
            "profile": [
                json.dumps(p, default=_json_default)
                for p in _profiles(micro, {"micro_segment_id", "segment_id"})
            ],
        }
    )
    con.register("_micro", rows)
    con.execute("INSERT INTO micro_segments SELECT * FROM _micro")
    con.unregister("_micro")


def _profiles(segments: pd.DataFrame, fixed: set[str] | None = None) -> list[dict]:
    # everything about a segment beyond the fixed columns travels in its profile JSON
    fixed = (fixed or {"segment_id"}) | {"name", "rule", "size", "value_share"}
    extra = [c for c in segments.columns if c not in fixed]
    return segments[extra].to_dict(orient="records")


def _json_default(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def list_runs(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """All runs, newest last."""
    rows = con.execute(
        """SELECT run_id, kind, created_at, as_of, params, metrics, data_fingerprint
           FROM runs ORDER BY run_id"""
    ).fetchall()
    return [_run_dict(row) for row in rows]


def get_run(con: duckdb.DuckDBPyConnection, run_id: int | None = None) -> dict:
    """One run by id, or the latest when ``run_id`` is None."""
    if run_id is None:
        row = con.execute(
            """SELECT run_id, kind, created_at, as_of, params, metrics, data_fingerprint
               FROM runs ORDER BY run_id DESC LIMIT 1"""
        ).fetchall()
        if not row:
            raise WorkspaceError("the workspace has no runs yet; run `segmint run` first")
        return _run_dict(row[0])
    row = con.execute(
        """SELECT run_id, kind, created_at, as_of, params, metrics, data_fingerprint
           FROM runs WHERE run_id = ?""",
        [run_id],
    ).fetchall()
    if not row:
        known = [r["run_id"] for r in list_runs(con)]
        raise RunNotFoundError(f"no run {run_id} in this workspace; runs: {known or 'none'}")
    return _run_dict(row[0])


def _run_dict(row: tuple) -> dict:
    run_id, kind, created_at, as_of, params, metrics, fingerprint = row
    return {
        "run_id": run_id,
        "kind": kind,
        "created_at": created_at.isoformat(timespec="seconds"),
        "as_of": as_of.isoformat(timespec="seconds"),
        "params": json.loads(params),
        "metrics": json.loads(metrics),
        "data_fingerprint": fingerprint,
    }


def load_segments(con: duckdb.DuckDBPyConnection, run_id: int) -> pd.DataFrame:
    """A run's segments with their profile fields expanded into columns, and their mean CLV
    and churn risk when the run has predictions."""
    df = con.execute(
        """SELECT segment_id, name, rule, size, value_share, profile
           FROM segments WHERE run_id = ? ORDER BY segment_id""",
        [run_id],
    ).df()
    extra = pd.DataFrame([json.loads(p) for p in df.pop("profile")], index=df.index)
    df = pd.concat([df, extra], axis=1)
    values = segment_values(con, run_id)
    if values.empty:
        return df
    return df.merge(values, on="segment_id", how="left")


def ensure_micro_segments(con: duckdb.DuckDBPyConnection) -> None:
    """Make ``micro_segments`` readable on a workspace created before it (migration 006).

    Migrations apply when a workspace is opened for writing; one only read since the upgrade
    lacks the table, so an empty temporary one of the same shape stands in (its runs have
    no micro-segment descriptions).
    """
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'micro_segments'"
    ).fetchall()[0][0]
    if not found:
        sql = (resources.files("segmint.store") / "migrations" / _MICRO_MIGRATION).read_text()
        con.execute(sql.replace("CREATE TABLE", "CREATE TEMP TABLE"))


def load_micro_segments(
    con: duckdb.DuckDBPyConnection, run_id: int, segment_id: int | None = None
) -> pd.DataFrame:
    """A run's micro-segments (of one segment, or all), by segment and descending size, with
    their profile fields expanded into columns; none for runs stored before they were
    described."""
    ensure_micro_segments(con)
    df = con.execute(
        """SELECT micro_segment_id, segment_id, name, rule, size, value_share, profile
           FROM micro_segments WHERE run_id = $run AND ($segment IS NULL OR segment_id = $segment)
           ORDER BY segment_id, size DESC, micro_segment_id""",
        {"run": run_id, "segment": segment_id},
    ).df()
    extra = pd.DataFrame([json.loads(p) for p in df.pop("profile")], index=df.index)
    return pd.concat([df, extra], axis=1)


def load_assignments(con: duckdb.DuckDBPyConnection, run_id: int) -> pd.DataFrame:
    """A run's per-customer assignments joined with the features used for value and maps
    (net spend; a run on customers' attributes alone has none)."""
    table = features_table(run_id)
    has_spend = con.execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = ? "
        "AND column_name = 'monetary'",
        [table],
    ).fetchall()[0][0]
    return con.execute(
        f"""SELECT a.* EXCLUDE (run_id){", f.monetary" if has_spend else ""}
            FROM assignments a JOIN {table} f USING (customer_id)
            WHERE a.run_id = ? ORDER BY a.customer_id""",
        [run_id],
    ).df()


def compare_runs(con: duckdb.DuckDBPyConnection, run_a: int, run_b: int) -> pd.DataFrame:
    """Customers moving between the segments of two runs.

    Returns one row per (segment in A, segment in B) pair with the number of customers, where
    a missing side (customer only in one run) is shown as "(not in run N)".
    """
    get_run(con, run_a)
    get_run(con, run_b)
    return con.execute(
        """
        WITH a AS (SELECT customer_id, s.name FROM assignments x JOIN segments s
                   USING (run_id, segment_id) WHERE run_id = $a),
             b AS (SELECT customer_id, s.name FROM assignments x JOIN segments s
                   USING (run_id, segment_id) WHERE run_id = $b)
        SELECT coalesce(a.name, '(not in run ' || $a || ')') AS from_segment,
               coalesce(b.name, '(not in run ' || $b || ')') AS to_segment,
               count(*) AS customers
        FROM a FULL OUTER JOIN b USING (customer_id)
        GROUP BY ALL ORDER BY customers DESC, from_segment, to_segment
        """,
        {"a": run_a, "b": run_b},
    ).df()


def save_model(con: duckdb.DuckDBPyConnection, run_id: int, name: str, payload: dict) -> None:
    """Store (or replace) a fitted model or evaluation of a run as JSON."""
    con.execute("DELETE FROM models WHERE run_id = ? AND name = ?", [run_id, name])
    text = json.dumps(_finite(payload), default=_json_default, allow_nan=False)
    con.execute("INSERT INTO models VALUES (?, ?, ?)", [run_id, name, text])


def _finite(value: object) -> object:
    # JSON has no NaN: an unidentified standard error or an empty bin is stored as null
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and hasattr(value, "dtype"):
        return _finite(value.item()) if getattr(value, "ndim", 0) == 0 else _finite(value.tolist())
    return value


def load_model(con: duckdb.DuckDBPyConnection, run_id: int, name: str) -> dict | None:
    """A stored model or evaluation of a run, or None."""
    rows = con.execute(
        "SELECT payload FROM models WHERE run_id = ? AND name = ?", [run_id, name]
    ).fetchall()
    return json.loads(rows[0][0]) if rows else None


def load_models(con: duckdb.DuckDBPyConnection, run_id: int, prefix: str) -> dict[str, dict]:
    """A run's stored models or evaluations whose name starts with ``prefix``, by name."""
    rows = con.execute(
        "SELECT name, payload FROM models WHERE run_id = ? AND starts_with(name, ?) ORDER BY name",
        [run_id, prefix],
    ).fetchall()
    return {name: json.loads(payload) for name, payload in rows}


def save_predictions(con: duckdb.DuckDBPyConnection, run_id: int, scores) -> None:
    """Replace a run's per-customer predictions: a frame (missing columns are NULL), or an
    Arrow table or dataset with every column (e.g. Spark's Parquet, read in parts)."""
    con.execute("DELETE FROM predictions WHERE run_id = ?", [run_id])
    columns = [r[0] for r in con.execute("DESCRIBE predictions").fetchall()][1:]
    if isinstance(scores, pd.DataFrame):
        scores = scores.reindex(columns=columns)
    con.register("_pred", scores)
    con.execute(f"INSERT INTO predictions SELECT ?, {', '.join(columns)} FROM _pred", [run_id])
    con.unregister("_pred")


def segment_values(con: duckdb.DuckDBPyConnection, run_id: int) -> pd.DataFrame:
    """Per segment: mean CLV, its share of total CLV, mean churn risk, share at risk."""
    return con.execute(
        """SELECT a.segment_id, avg(p.clv) AS clv, sum(p.clv) / sum(sum(p.clv)) OVER () AS
                  clv_share, avg(p.churn_risk) AS churn_risk,
                  avg(p.at_risk::INT) AS at_risk_share, avg(p.high_value::INT) AS high_value_share
           FROM assignments a JOIN predictions p USING (run_id, customer_id)
           WHERE a.run_id = ? GROUP BY a.segment_id ORDER BY a.segment_id""",
        [run_id],
    ).df()
