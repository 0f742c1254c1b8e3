"""The ``run`` command: ingest the user's files and segment them, as one transaction.

Either everything is stored (the new rows, the run, its segments) or nothing is: a failure at
any step (a bad option, a file that does not load, data that cannot be segmented, an
interrupt) rolls the transaction back, and a workspace created by the command is removed. Every
option is checked before any file is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime
from functools import partial
from pathlib import Path

from segmint.pipeline._features import K_RANGE
from segmint.pipeline._ingest import IngestResult, check_ingest_options, ingest_files
from segmint.pipeline._options import parse_date
from segmint.pipeline._progress import Progress, no_progress
from segmint.pipeline._runs import RunResult
from segmint.pipeline._segment import SegmentOptions, add_report, segment_steps
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
    use_attributes: bool = False,
    space: str = "useful",
    sources: Sequence[str] | None = None,
    report_path: str | Path | None = None,
    write_html: bool = True,
    progress: Progress = no_progress,
) -> tuple[list[IngestResult], RunResult]:
    """Ingest the files and store a segmentation of the workspace, all in one transaction.

    Parameters are those of :func:`ingest` and :func:`segment`; ``as_of`` may also be the
    command line's ``YYYY-MM-DD`` text. An ``as_of`` after the last transaction (or before the
    first) is an error that gives the data's date range.

    Returns
    -------
    ingested : list of IngestResult
    run : RunResult
        With its report path when ``write_html`` (the report is written after the commit).
    """
    # every option first: nothing is read, nothing is created, when one is wrong
    options = SegmentOptions(
        n_segments,
        k_range,
        method,
        random_state,
        micro_segments,
        use_attributes,
        space,
        sources=None if sources is None else tuple(sources),
    ).check()
    if isinstance(as_of, str):
        as_of = parse_date(as_of)
    layout, delimiter = check_ingest_options(
        transactions, customers, preset, mapping, customers_mapping, delimiter
    )
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
        this_transaction = partial(nullcontext, con)  # read and store inside it
        result = segment_steps(this_transaction, this_transaction, as_of, options, progress)
    if write_html:
        add_report(workspace, result, report_path, progress)
    return ingested, result
