"""Customers alone: segment a customers file on its attributes, with no transactions.

The ``run --customers FILE`` command without ``--transactions``: the file is ingested and the
customers segmented on their attributes (demographics, firmographics; numbers and categories
mixed, encoded by :mod:`segmint.features.attributes`) with the same segmenter, names and store
as any run, all in one transaction.

Two kinds of column are kept out of the clustering: an outcome such as churn (found by its name,
:func:`segmint.features.attributes.is_outcome`) is profiled per segment (``outcome_<name>``)
but does not define segments, so that a segment's churn rate says something; and the
customer's value (the ``value`` column, or ``customer_value``, the sum of several; by default
the one money column whose name says so, e.g. "TotalCharges") measures each segment's value
share. Without a value, a segment's value share is its share of customers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from segmint.errors import DataValidationError
from segmint.features import attribute_column, customer_attributes, is_outcome, money_columns
from segmint.features.labels import INDICATOR_SEPARATOR
from segmint.pipeline._features import K_RANGE, clustering_columns
from segmint.pipeline._ingest import IngestResult, check_ingest_options, ingest_files
from segmint.pipeline._progress import Progress, no_progress
from segmint.pipeline._runs import RunResult
from segmint.pipeline._segment import (
    MIN_CUSTOMERS,
    Segmentation,
    SegmentOptions,
    add_report,
    fit_segments,
    store_segments,
)
from segmint.schema import Preset
from segmint.store.customers import customers_fingerprint
from segmint.store.workspace import Workspace


def customer_features(
    con: duckdb.DuckDBPyConnection, value: Sequence[str] = (), *, source: str = "customers"
) -> tuple[pd.DataFrame, str | None]:
    """Every customer's attribute features (indexed by ``customer_id``, outcomes renamed
    ``outcome_*``, the sum of several ``value`` columns as ``customer_value``) and the column
    of their value (None when unknown)."""
    frame = customer_attributes(con, source=source).to_pandas().set_index("customer_id")
    frame = frame.rename(columns={c: "outcome_" + c[5:] for c in frame.columns if is_outcome(c)})
    if not clustering_columns(list(frame.columns), use_attributes=True):
        raise DataValidationError(
            "no customer attribute to segment on: the only usable columns are outcomes "
            f"({', '.join(frame.columns)}), which describe segments but do not define them",
            source=source,
        )
    chosen = [attribute_column(v) for v in value] or money_columns(frame.columns)[:1]
    unknown = [v for v, c in zip(value, chosen, strict=False) if c not in frame.columns]
    if unknown:
        numeric = [
            c for c in frame.columns if c.startswith("attr_") and INDICATOR_SEPARATOR not in c
        ]
        raise DataValidationError(
            f"--value {', '.join(unknown)}: not a numeric column of the customers file; "
            f"numeric columns: {', '.join(c[5:] for c in numeric) or 'none'}",
            source=source,
        )
    if len(chosen) > 1:
        frame["customer_value"] = frame[chosen].sum(axis=1, min_count=1)
    if len(frame) < MIN_CUSTOMERS:
        raise DataValidationError(
            f"only {len(frame)} customers; segmentation needs at least {MIN_CUSTOMERS}",
            source=source,
        )
    return frame, chosen[0] if len(chosen) == 1 else "customer_value" if chosen else None


def fit_customer_segments(
    features: pd.DataFrame,
    value: str | None,
    fingerprint: str,
    options: SegmentOptions,
    progress: Progress,
) -> Segmentation:
    """Fit and describe segments without the outcomes, then add each segment's outcome rates
    to its profile and the outcomes to the stored features."""
    outcomes = [c for c in features.columns if c.startswith("outcome_")]
    as_of = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    fitted = fit_segments(
        features.drop(columns=outcomes), as_of, fingerprint, options, progress, value=value
    )
    if outcomes:
        labels = fitted.assignments["segment_id"].to_numpy()
        rates = features[outcomes].groupby(labels).mean()
        fitted.segments["profile"] = [
            {**profile, **rates.loc[seg].to_dict()}
            for seg, profile in zip(
                fitted.segments["segment_id"], fitted.segments["profile"], strict=True
            )
        ]
        fitted.features = features
    fitted.params["outcomes"] = outcomes
    fitted.params["value"] = value
    if value is None:  # no value known: a segment is worth its customers
        fitted.segments["value_share"] = fitted.segments["share"]
    return fitted


def segment_customers(
    workspace: Workspace,
    customers: str | Path,
    *,
    preset: str | Preset = "generic",
    customers_mapping: Sequence[str] | dict[str, str] = (),
    delimiter: str | None = None,
    encoding: str = "utf-8",
    value: Sequence[str] = (),
    n_segments: int | None = None,
    k_range: tuple[int, int] = K_RANGE,
    method: str = "kmeans",
    random_state: int = 0,
    micro_segments: bool = True,
    report_path: str | Path | None = None,
    write_html: bool = True,
    progress: Progress = no_progress,
) -> tuple[list[IngestResult], RunResult]:
    """Ingest a customers file and store a segmentation of the customers on their attributes,
    all in one transaction (nothing is stored on any error).

    ``value`` names the customers file's columns whose sum is a customer's value (default: the
    one money column its name shows, totals first; none: value shares are customer shares).
    A file without a customer id column gets row numbers as ids (with a warning).
    """
    options = SegmentOptions(
        n_segments, k_range, method, random_state, micro_segments, use_attributes=True
    ).check()
    layout, delimiter = check_ingest_options(
        None, customers, preset, (), customers_mapping, delimiter
    )
    with workspace.transaction(create=True) as con:
        ingested = ingest_files(
            con,
            None,
            customers=customers,
            layout=layout,
            delimiter=delimiter,
            encoding=encoding,
            progress=progress,
        )
        progress("features", 0, 1)
        features, value_column = customer_features(con, value, source=str(customers))
        progress("features", 1, 1)
        fitted = fit_customer_segments(
            features, value_column, customers_fingerprint(con), options, progress
        )
        result = store_segments(con, fitted, progress)
    if write_html:
        add_report(workspace, result, report_path, progress)
    return ingested, result
