"""The ``run`` command: ingest the user's files and segment them, as one transaction.

Either everything is stored (the new rows, the run, its segments) or nothing is: a failure at
any step (a bad option, a file that does not load, data that cannot be segmented, an
interrupt) rolls the transaction back, and a workspace created by the command is removed. Every
option is checked before any file is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from segmint.io.layout import resolve_layout
from segmint.io.readers import check_file
from segmint.pipeline._features import K_RANGE
from segmint.pipeline._ingest import IngestResult, ingest_files
from segmint.pipeline._options import check_method, parse_date
from segmint.pipeline._progress import Progress, no_progress
from segmint.pipeline._runs import RunResult
from segmint.pipeline._segment import add_report, fit_segments, read_features, store_segments
from segmint.schema import Preset
from segmint.store.workspace import Workspace


def ingest_and_segment(
    workspace: Workspace,
    transactions: str | Path,
    *,
    customers: str | Path | None = None,
    preset: str | Preset = "generic",
    mapping: Sequence[str] | dict[str, str] = (),
    customers_mapping: Sequence[str] | dict[str, str] = (),
    delimiter: str | None = None,
    encoding: str = "utf-8",
    date_format: str | None = None,
    as_of: datetime | str | None = None,
    n_segments: int | None = None,
    k_range: tuple[int, int] = K_RANGE,
    method: str = "kmeans",
    random_state: int = 0,
    micro_segments: bool = True,
    report_path: str | Path | None = None,
    write_html: bool = True,
    progress: Progress = no_progress,
) -> tuple[list[IngestResult], RunResult]:
    """Ingest the files and store a segmentation of the workspace, all in one transaction.

    Parameters are those of :func:`ingest` and :func:`segment`; ``as_of`` may also be the
    command line's ``YYYY-MM-DD`` text. An ``as_of`` after the last transaction is an error
    that gives the data's date range.

    Returns
    -------
    ingested : list of IngestResult
    run : RunResult
        With its report path when ``write_html`` (the report is written after the commit).
    """
    # every option first: nothing is read, nothing is created, when one is wrong
    layout, delimiter = resolve_layout(
        preset, mapping=mapping, customers_mapping=customers_mapping, delimiter=delimiter
    )
    check_method(method)
    if isinstance(as_of, str):
        as_of = parse_date(as_of)
    for path in (transactions, customers):
        if path is not None:
            check_file(path)
    with workspace.transaction(create=True) as con:
        ingested = ingest_files(
            con,
            transactions,
            customers=customers,
            layout=layout,
            delimiter=delimiter,
            encoding=encoding,
            date_format=date_format,
            progress=progress,
        )
        features, as_of, fingerprint = read_features(con, as_of, progress)
        fitted = fit_segments(
            features,
            as_of,
            fingerprint,
            n_segments=n_segments,
            k_range=k_range,
            method=method,
            random_state=random_state,
            micro_segments=micro_segments,
            progress=progress,
        )
        result = store_segments(con, fitted, progress)
    if write_html:
        add_report(workspace, result, report_path, progress)
    return ingested, result
