"""``run --engine spark``: the same segmentation, computed where the data lives.

Every customer's features are computed in Spark and written as Parquet. The segmentation is
fitted on the driver on a hash sample of customers (at most ``fit_sample``, stated in the run's
metrics), with the earlier quarters it learns from computed on that sample's lines in an
in-memory DuckDB (the same feature definitions: see ``tests/engine``). Every customer is then
assigned in Spark by the saved model's own kernel (:class:`~segmint.segment.LiveSegmenter`, in
a pandas UDF) and the assignments are written as Parquet partitioned by segment. Segment sizes
and value shares count every customer; profiles, rules and names are described on the sample.

The run's record (parameters, metrics, segments, model) and a copy of the per-customer rows
go into the workspace as a DuckDB run's do, so ``runs``, ``report``, ``export`` and ``serve``
work the same.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from segmint.config import duckdb_memory_limit, get_settings
from segmint.consent.permitted import ERASED_KEY, permitted
from segmint.consent.pseudonym import destination_key, pseudonym
from segmint.engine import read_tables, spark_session
from segmint.errors import DataValidationError
from segmint.features import MIN_CATEGORY_COVERAGE, derive_categories, feature_query
from segmint.io.layout import resolve_layout
from segmint.pipeline._features import N_TOP_CATEGORIES
from segmint.pipeline._outcomes import earlier_period
from segmint.pipeline._progress import Progress, no_progress
from segmint.pipeline._runs import RunResult
from segmint.pipeline._segment import (
    FIT_SAMPLE,
    MIN_CUSTOMERS,
    Segmentation,
    SegmentOptions,
    add_report,
    fit_segments,
    store_segments,
)
from segmint.schema import Preset
from segmint.segment import rfm_group, segmenter_from_dict, segmenter_to_dict
from segmint.segment.assign import assign
from segmint.store.runs import next_run_id
from segmint.store.workspace import Workspace

#: the assignments' columns and Spark types (as the workspace's ``assignments`` table)
_ASSIGNMENT_SCHEMA = (
    "customer_id string, segment_id int, micro_segment_id string, confidence double, "
    "r_score tinyint, f_score tinyint, m_score tinyint, rfm_group string, "
    "map_x float, map_y float"
)


def segment_on_spark(
    workspace: Workspace,
    transactions: str | os.PathLike | list,
    *,
    customers: str | os.PathLike | list | None = None,
    preset: str | Preset = "generic",
    mapping: Sequence[str] | dict[str, str] = (),
    customers_mapping: Sequence[str] | dict[str, str] = (),
    delimiter: str | None = None,
    encoding: str = "utf-8",
    date_format: str | None = None,
    master: str = "local[*]",
    output: str | None = None,
    as_of: datetime | None = None,
    options: SegmentOptions | None = None,
    fit_sample: int = FIT_SAMPLE,
    report_path: str | Path | None = None,
    write_html: bool = True,
    progress: Progress = no_progress,
) -> RunResult:
    """Segment the customers of Parquet or CSV files on Spark and store the run.

    Parameters
    ----------
    workspace : Workspace
        Where the run's record goes (created when missing).
    transactions, customers : path, glob or list of them
        Parquet or CSV files, directories or globs (:func:`segmint.engine.read_tables`).
    preset, mapping, customers_mapping, delimiter, encoding, date_format
        The files' layout, as for :func:`ingest` (text files sniffed as there: delimiter,
        header line, decimal comma).
    master : str, default="local[*]"
        Spark master URL: ``local[N]``, ``spark://HOST:PORT`` or ``sc://HOST:PORT``.
    output : str, optional
        Directory or URI (any Spark writes) for ``features/`` and ``assignments/`` (partitioned
        by ``segment_id``). Default: ``WORKSPACE/results/run-N``.
    as_of : datetime, optional
        As :func:`segment`; default the day after the last transaction.
    options : SegmentOptions, optional
    fit_sample : int, default=FIT_SAMPLE
        Customers the segmentation is fitted on at most (a hash sample of the customer ids).
    report_path, write_html, progress
        As :func:`segment`.

    Returns
    -------
    RunResult
        With ``params["engine"]``, ``params["output"]`` and ``metrics["fit_sample"]``.
    """
    options = (options or SegmentOptions()).check()
    if fit_sample < MIN_CUSTOMERS:
        raise DataValidationError(f"the fit sample must hold at least {MIN_CUSTOMERS} customers")
    layout, delimiter = resolve_layout(
        preset, mapping=mapping, customers_mapping=customers_mapping, delimiter=delimiter
    )
    source = {
        "transactions": _paths(transactions),
        "customers": None if customers is None else _paths(customers),
        "layout": dataclasses.asdict(layout),
        "delimiter": delimiter,
        "encoding": encoding,
        "date_format": date_format,
    }
    session = spark_session(master)
    engine = read_source(session, source)
    # every step reads the cleaned lines: clean them once (held in memory, spilled to disk)
    session.catalog.cacheTable("transactions")
    try:
        progress("features", 0, 3)
        as_of, fingerprint = check_lines(session, as_of)
        categories = derived_categories_view(engine, session, as_of)
        with _results(workspace, output) as (out, target, run_id):
            features = engine.dataframe(
                feature_query(
                    engine,
                    as_of=as_of,
                    n_top_categories=N_TOP_CATEGORIES,
                    category_map_table=None if categories is None else "product_categories",
                )
            )
            features = _analytics_only(session, workspace, features)
            features.write.mode("overwrite").parquet(f"{out}/features")
            features = session.read.parquet(f"{out}/features")
            n_customers = features.count()
            if n_customers < MIN_CUSTOMERS:
                raise DataValidationError(
                    f"only {n_customers} customers have purchases before {as_of:%Y-%m-%d}; "
                    f"segmentation needs at least {MIN_CUSTOMERS}"
                )
            sampled = sample_condition(min(1.0, fit_sample / n_customers))
            sample = features.filter(sampled).toArrow().to_pandas()
            sample = sample.set_index("customer_id").sort_index()
            progress("features", 1, 3)
            with sample_lines(session, sampled, categories) as lines:
                history = earlier_period(lines, sample, as_of, categories)
            progress("features", 3, 3)
            fitted = fit_segments(
                sample, as_of, fingerprint, options, progress, history, fit_sample=len(sample)
            )
            progress("assign", 0, 1)
            _assignments(features, fitted).write.mode("overwrite").partitionBy(
                "segment_id"
            ).parquet(f"{out}/assignments")
            segments, micro = _counted(session, out, fitted)
            progress("assign", 1, 1)
            fitted.params |= {
                "engine": "spark",
                "spark_master": master,
                "source": source,
                "output": target,
            }
            fitted.metrics |= {"n_customers": int(n_customers), "fit_sample": int(len(sample))}
            result = _store(workspace, out, run_id, fitted, segments, micro, progress)
    finally:
        session.catalog.uncacheTable("transactions")
    return add_report(workspace, result, report_path, progress) if write_html else result


def check_lines(session, as_of: datetime | None) -> tuple[datetime, str]:
    """``as_of`` (default: midnight after the last day) once it is within the data, and a
    fingerprint of the lines (count, content hash, time span)."""
    first, last, n, content = session.sql(
        "SELECT min(ts), max(ts), count(*), "
        "sum(xxhash64(customer_id, order_id, ts, amount, product_id) % 1000000007) "
        "FROM transactions"
    ).first()
    if n == 0:
        raise DataValidationError("the transactions hold no usable line")
    end = datetime.combine(last.date(), datetime.min.time()) + pd.Timedelta(days=1)
    if as_of is None:
        as_of = end
    elif not first < as_of <= end:
        side = "after" if as_of > end else "before"
        raise DataValidationError(
            f"as of {as_of:%Y-%m-%d} is {side} the data, which runs from {first:%Y-%m-%d} to "
            f"{last:%Y-%m-%d}; pick a date after {first:%Y-%m-%d} and up to {end:%Y-%m-%d}"
        )
    fingerprint = hashlib.sha256(repr((n, content, first, last)).encode()).hexdigest()[:16]
    return as_of, fingerprint


def derived_categories_view(engine, session, as_of: datetime) -> pa.Table | None:
    """Product categories derived from the products sold before ``as_of`` when the lines carry
    too few (visible to Spark as ``product_categories``), else None."""
    (coverage,) = session.sql(
        "SELECT coalesce(avg(CASE WHEN category IS NOT NULL THEN 1 ELSE 0 END), 0) "
        "FROM transactions"
    ).first()
    if coverage >= MIN_CATEGORY_COVERAGE:
        return None
    categories = derive_categories(engine, before=as_of)
    # the schema given: none is inferred from no rows (products without descriptions, CDNOW)
    session.createDataFrame(
        categories.to_pandas(), schema="product_id string, category string"
    ).createOrReplaceTempView("product_categories")
    return categories


def _paths(paths: str | os.PathLike | list) -> str | list[str]:
    return [str(p) for p in paths] if isinstance(paths, list) else str(paths)


def read_source(session, source: dict):
    """The files a Spark run read, read again as it read them (``source``: the run's
    ``params["source"]``), as :func:`segmint.engine.read_tables` gives them."""
    layout = dict(source["layout"])
    for name in ("customer_fields_in_transactions", "names"):  # tuples, as JSON lists
        layout[name] = tuple(layout[name])
    return read_tables(
        session,
        source["transactions"],
        customers=source["customers"],
        layout=Preset(**layout),
        delimiter=source["delimiter"],
        date_format=source["date_format"],
        encoding=source["encoding"],
    )


def sample_condition(share: float) -> str:
    """The Spark condition of the hash sample holding ``share`` of the customers."""
    if share >= 1.0:
        return "true"
    # the top 32 bits of the id's 64-bit hash: the same customers in every run and engine run
    return f"shiftrightunsigned(xxhash64(customer_id), 32) < {math.ceil(share * 2**32)}"


@contextmanager
def sample_lines(session, sampled: str, categories: pa.Table | None) -> Iterator:
    """The sample's lines (and customers) in an in-memory DuckDB, as a workspace holds them."""
    con = duckdb.connect()
    try:
        con.execute("SET memory_limit = ?", [duckdb_memory_limit(get_settings().memory_limit)])
        for name in ("transactions", "customers"):
            if session.catalog.tableExists(name):
                con.register(name, _naive(session.table(name).filter(sampled).toArrow()))
        con.register(
            "product_categories",
            categories
            if categories is not None
            else pa.table({"product_id": pa.array([], pa.string()), "category": []}),
        )
        yield con
    finally:
        con.close()


def _naive(table: pa.Table) -> pa.Table:
    """Spark's UTC timestamps as the workspace's naive UTC ones."""
    schema = pa.schema(
        pa.field(f.name, pa.timestamp("us")) if pa.types.is_timestamp(f.type) else f
        for f in table.schema
    )
    return table.cast(schema)


def _assignments(features, fitted: Segmentation):
    """Every customer's assignment, by the saved model's kernel in a pandas UDF (Spark)."""
    model = segmenter_to_dict(fitted.segmenter)
    columns = list(fitted.segmenter._feature_names)
    mean, components = fitted.projection.mean_, fitted.projection.components_
    sample = fitted.features
    # RFM quintile edges from the sample: equal-count bins need a rank over every customer
    edges = {
        c: np.quantile(sample[c].to_numpy(np.float64), [0.2, 0.4, 0.6, 0.8])
        for c in ("recency_days", "frequency", "monetary")
    }

    def assign_batches(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        live = segmenter_from_dict(model)
        for frame in frames:
            Z = live.scaler._transform_values(frame[columns].to_numpy(np.float64))
            found = assign(live.geometry, Z)
            coords = ((Z - mean) @ components.T).astype(np.float32)
            scores = {
                c: 1 + np.searchsorted(edges[c], frame[c].to_numpy(np.float64), side="left")
                for c in edges
            }
            r = 6 - scores["recency_days"]  # fewer days since the last order is better
            f, m = scores["frequency"], scores["monetary"]
            yield pd.DataFrame(
                {
                    "customer_id": frame["customer_id"],
                    "segment_id": found.segment_id.astype(np.int32),
                    "micro_segment_id": found.micro_segment_id,
                    "confidence": found.confidence,
                    "r_score": r.astype(np.int8),
                    "f_score": f.astype(np.int8),
                    "m_score": m.astype(np.int8),
                    "rfm_group": rfm_group(r, (f + m + 1) // 2),
                    "map_x": coords[:, 0],
                    "map_y": coords[:, 1],
                }
            )

    return features.mapInPandas(assign_batches, _ASSIGNMENT_SCHEMA)


def _counted(session, out: str, fitted: Segmentation) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The segments and micro-segments with sizes and value shares over every customer."""
    session.read.parquet(f"{out}/assignments").createOrReplaceTempView("_segmint_assigned")
    session.read.parquet(f"{out}/features").createOrReplaceTempView("_segmint_features")
    totals = session.sql(
        "SELECT a.segment_id, a.micro_segment_id, count(*) AS n, sum(f.monetary) AS value "
        "FROM _segmint_assigned a JOIN _segmint_features f USING (customer_id) "
        "GROUP BY a.segment_id, a.micro_segment_id"
    ).toPandas()
    total = totals["value"].sum()

    def counted(described: pd.DataFrame, key: str) -> pd.DataFrame:
        if described is None or described.empty:
            return described
        sums = totals.groupby(key)[["n", "value"]].sum()
        by = described[key]
        out = described.copy()
        out["size"] = sums["n"].reindex(by).fillna(0).astype(np.int64).to_numpy()
        share = sums["value"].reindex(by).fillna(0.0) / total if total > 0 else np.nan
        out["value_share"] = np.asarray(share, dtype=np.float64)
        return out

    totals["micro_segment_id"] = totals["micro_segment_id"].astype(str)
    micro = fitted.micro_segments
    if micro is not None and not micro.empty:
        micro = micro.assign(micro_segment_id=micro["micro_segment_id"].astype(str))
    return counted(fitted.segments, "segment_id"), counted(micro, "micro_segment_id")


def _analytics_only(session, workspace: Workspace, features):
    """Segmentation runs under the analytics purpose, on Spark too: the workspace's consent
    exceptions join as a broadcast table, and erased customers (kept as keyed hashes) are
    matched by the same HMAC computed on the executors."""
    from pyspark.sql import functions as F  # noqa: N812 - Spark's own convention
    from pyspark.sql.functions import pandas_udf

    with workspace.connect(create=True) as con:
        perm = permitted(con, "analytics")
        listed = con.execute(f"SELECT customer_id FROM {perm.table}").df()
        erased = con.execute("SELECT ref FROM erased_customers").df()
        key = destination_key(con, workspace.path, ERASED_KEY) if len(erased) else None
    if perm.regime == "opt-in" or len(listed):
        how = "left_anti" if perm.regime == "opt-out" else "left_semi"
        listed = session.createDataFrame(listed, "customer_id string")
        features = features.join(F.broadcast(listed), "customer_id", how)
    if key is not None:

        @pandas_udf("string")
        def refs(ids: pd.Series) -> pd.Series:
            return ids.map(lambda c: pseudonym(key, c))

        gone = F.broadcast(session.createDataFrame(erased, "ref string"))
        features = features.join(gone, refs(F.col("customer_id")) == gone["ref"], "left_anti")
    return features


@contextmanager
def _results(workspace: Workspace, output: str | None) -> Iterator[tuple[str, str, int | None]]:
    """Where this run's results are written, where they are once the run is stored, and the
    run id that place is named after (None for ``output``).

    Without ``output``, a fresh directory under ``WORKSPACE/results`` that becomes
    ``results/run-N`` once the run is committed, and is removed when anything fails.
    """
    if output is not None:
        yield output, output, None
        return
    root = workspace.path / "results"
    partial = root / f".partial-{uuid.uuid4().hex[:12]}"
    partial.mkdir(parents=True)
    try:
        with workspace.connect(create=True) as con:
            run_id = next_run_id(con)
        target = root / f"run-{run_id}"
        yield str(partial), str(target), run_id
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _store(
    workspace: Workspace,
    out: str,
    expected_id: int | None,
    fitted: Segmentation,
    segments: pd.DataFrame,
    micro: pd.DataFrame | None,
    progress: Progress,
) -> RunResult:
    """Store the run's record and a copy of its per-customer rows in the workspace."""
    with workspace.transaction(create=True) as con:
        con.register("_segmint_features_raw", ds.dataset(f"{out}/features", format="parquet"))
        result = store_segments(
            con,
            fitted,
            progress,
            assignments=ds.dataset(f"{out}/assignments", format="parquet", partitioning="hive"),
            features=con.sql("SELECT * FROM _segmint_features_raw ORDER BY customer_id"),
            segments=segments,
            micro_segments=micro,
            expected_run_id=expected_id,
        )
        con.unregister("_segmint_features_raw")
    return result
