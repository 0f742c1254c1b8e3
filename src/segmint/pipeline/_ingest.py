"""Ingest: read, validate and store the user's files in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from segmint.consent.ledger import append_new
from segmint.errors import DataValidationError
from segmint.io.fingerprint import file_fingerprint
from segmint.io.layout import parse_map, resolve_layout
from segmint.io.readers import check_file, close_source, open_source
from segmint.io.sniff import normalize_delimiter
from segmint.io.validate import (
    STAGE_TRANSACTIONS,
    StageReport,
    stage_customers,
    stage_source,
    stage_table,
    stage_transactions,
)
from segmint.pipeline._progress import Progress, no_progress
from segmint.schema import SOURCE_TABLES, Preset
from segmint.store.ingest import load_customers, load_source, load_transactions, record_ingest
from segmint.store.workspace import Workspace


@dataclass
class IngestResult:
    """What one ingested file contributed."""

    kind: str
    source: str
    rows_read: int
    rows_loaded: int
    rows_duplicate: int
    rejected: dict[str, int]
    examples: dict[str, str]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def check_ingest_options(
    transactions: str | Path | None,
    customers: str | Path | None,
    preset: str | Preset,
    mapping: Sequence[str] | dict[str, str],
    customers_mapping: Sequence[str] | dict[str, str],
    delimiter: str | None,
) -> tuple[Preset, str | None]:
    """The layout and delimiter to read with, once the options and the paths are checked."""
    layout, delimiter = resolve_layout(
        preset, mapping=mapping, customers_mapping=customers_mapping, delimiter=delimiter
    )
    for path in (transactions, customers):
        if path is not None:
            check_file(path)
    return layout, delimiter


def ingest(
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
    progress: Progress = no_progress,
) -> list[IngestResult]:
    """Read, validate and store a transactions file (and optionally a customers file).

    ``mapping`` and ``customers_mapping`` name the columns of each file (``COLUMN=FIELD`` pairs
    or ``field -> column`` dicts); they and the preset are checked before any file is read
    (:func:`segmint.io.layout.resolve_layout`). Everything happens in one transaction: on any
    error the workspace is left as it was (and a workspace created by this call is removed).
    """
    layout, delimiter = check_ingest_options(
        transactions, customers, preset, mapping, customers_mapping, delimiter
    )
    with workspace.transaction(create=True) as con:
        return ingest_files(
            con,
            transactions,
            customers=customers,
            layout=layout,
            delimiter=delimiter,
            encoding=encoding,
            date_format=date_format,
            progress=progress,
        )


def ingest_files(
    con: duckdb.DuckDBPyConnection,
    transactions: str | Path | None,
    *,
    customers: str | Path | None = None,
    layout: Preset,
    delimiter: str | None = None,
    encoding: str = "utf-8",
    date_format: str | None = None,
    progress: Progress = no_progress,
) -> list[IngestResult]:
    """Ingest on the caller's connection, inside the caller's transaction (see ``ingest``).

    Without ``transactions`` only the customers file is read, and a customers file without
    an id column gets its row numbers as ids (customers alone need no key to join on).
    """
    results = []
    if transactions is not None:
        results.append(
            _ingest_transactions(
                con, transactions, layout, delimiter, encoding, date_format, progress
            )
        )
    if customers is not None:
        columns = open_source(
            con, customers, "_source_cu", encoding=encoding, delimiter=delimiter
        ).columns
        creport = stage_customers(
            con,
            "_source_cu",
            columns,
            layout,
            source=str(customers),
            number_rows=transactions is None,
        )
        given = load_customers(con, creport, fingerprint=file_fingerprint(customers))
        results.append(
            IngestResult(
                "customers",
                str(customers),
                creport.rows_read,
                given,
                0,
                creport.rejected,
                creport.examples,
            )
        )
    progress("store transactions", 2, 2)
    return results


def _ingest_transactions(
    con: duckdb.DuckDBPyConnection,
    transactions: str | Path,
    layout: Preset,
    delimiter: str | None,
    encoding: str,
    date_format: str | None,
    progress: Progress,
) -> IngestResult:
    progress("read transactions", 0, 2)
    source = open_source(
        con,
        transactions,
        "_source_tx",
        encoding=encoding,
        delimiter=delimiter,
        names=layout.names,
    )
    report = stage_transactions(
        con,
        "_source_tx",
        source.columns,
        layout,
        source=str(transactions),
        date_format=date_format,
        decimal_comma=source.decimal_comma,
    )
    close_source(con, "_source_tx")
    progress("store transactions", 1, 2)
    added = load_transactions(con, report, fingerprint=file_fingerprint(transactions))
    # the staged lines are stored now: free their memory before the customers file is read
    con.execute(f"DROP TABLE {STAGE_TRANSACTIONS}")
    return IngestResult(
        "transactions",
        str(transactions),
        report.rows_read,
        added,
        report.rows_usable - added,
        report.rejected,
        report.examples,
    )


#: what ``segmint ingest`` takes, in the order its help lists them
SOURCE_KINDS = ("transactions", "customers", *SOURCE_TABLES)


def ingest_sources(
    workspace: Workspace, files: dict[str, str | Path], progress: Progress = no_progress
) -> None:
    """Ingest a data set's files by source name (as :func:`segmint.datasets.write_sources`
    writes them): transactions with their customers, then events, messages and identities,
    each that is given, each file in its own transaction."""
    ingest(workspace, files["transactions"], customers=files.get("customers"), progress=progress)
    for source in ("events", "messages", "identities"):
        if source in files:
            ingest_source(workspace, source, files[source], progress=progress)


def ingest_source(
    workspace: Workspace,
    kind: str,
    path: str | Path,
    *,
    preset: str | Preset = "generic",
    mapping: Sequence[str] | dict[str, str] = (),
    delimiter: str | None = None,
    encoding: str = "utf-8",
    date_format: str | None = None,
    progress: Progress = no_progress,
) -> IngestResult:
    """Read, validate and store one file of any source into its canonical table.

    ``kind`` is one of :data:`SOURCE_KINDS`: transactions and customers as :func:`ingest` reads
    them (``mapping`` applies to the file, whichever it is), events, messages and identities
    into the tables of ``segmint.schema.SOURCE_TABLES``. One transaction: on any error the
    workspace is left as it was.
    """
    if kind not in SOURCE_KINDS:
        raise DataValidationError(
            f"unknown source {kind!r}; expected one of {', '.join(SOURCE_KINDS)}"
        )
    if kind in ("transactions", "customers"):
        layout, delimiter = check_ingest_options(
            path if kind == "transactions" else None,
            path if kind == "customers" else None,
            preset,
            mapping if kind == "transactions" else (),
            mapping if kind == "customers" else (),
            delimiter,
        )
        with workspace.transaction(create=True) as con:
            (result,) = ingest_files(
                con,
                path if kind == "transactions" else None,
                customers=path if kind == "customers" else None,
                layout=layout,
                delimiter=delimiter,
                encoding=encoding,
                date_format=date_format,
                progress=progress,
            )
            return result
    table = SOURCE_TABLES[kind]
    if preset not in ("generic", None):
        raise DataValidationError(
            f"--preset {preset!r}: {kind} files have the generic layout only (columns named "
            f"{', '.join(table.columns)}); name other columns with --map COLUMN=FIELD"
        )
    fields = parse_map(mapping, option="--map", fields=table.columns) if mapping else {}
    delimiter = normalize_delimiter(delimiter)
    check_file(path)
    with workspace.transaction(create=True) as con:
        progress(f"read {kind}", 0, 2)
        source = open_source(con, path, "_source_rows", encoding=encoding, delimiter=delimiter)
        report = stage_source(
            con,
            "_source_rows",
            source.columns,
            table,
            fields,
            source=str(path),
            date_format=date_format,
        )
        close_source(con, "_source_rows")
        progress(f"store {kind}", 1, 2)
        if kind == "consent":
            added = _append_consent(con, workspace.path, report, path)
        else:
            added = load_source(con, table, report, fingerprint=file_fingerprint(path))
        con.execute(f"DROP TABLE {stage_table(table)}")
        progress(f"store {kind}", 2, 2)
    return IngestResult(
        kind,
        str(path),
        report.rows_read,
        added,
        report.rows_usable - added,
        report.rejected,
        report.examples,
    )


def _append_consent(
    con: duckdb.DuckDBPyConnection, directory: Path, report: StageReport, path: str | Path
) -> int:
    """The consent file's usable rows into the consent ledger, those it holds already skipped
    (so ingesting the file again adds nothing); a row without a source gets the file's name."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _consent_file AS
            SELECT customer_id, purpose, status, coalesce(source, ?) AS source, ts, evidence
            FROM {stage_table(SOURCE_TABLES["consent"])} WHERE _reason IS NULL""",
        [Path(path).name],
    )
    added = append_new(con, directory, "_consent_file").count
    con.execute("DROP TABLE _consent_file")
    record_ingest(con, "consent", report, file_fingerprint(path), added)
    return added
