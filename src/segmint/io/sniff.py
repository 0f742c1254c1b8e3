"""Guess how a text file is laid out (delimiter, header) from its first lines.

DuckDB's own sniffer refuses a file whose last line is cut short when it samples the whole file
(it then reports one column named after the whole header line), and it cannot split on runs of
spaces. So the dialect is decided here, on the first lines only, and the reader is told exactly
what to do. Pure: text in, :class:`Dialect` out.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from segmint.errors import DataValidationError

WHITESPACE = "whitespace"
#: ``--delimiter`` spellings and the delimiter each stands for
DELIMITERS = {
    ",": ",",
    ";": ";",
    "|": "|",
    "\t": "\t",
    "\\t": "\t",
    "tab": "\t",
    WHITESPACE: WHITESPACE,
}

_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
#: a number written with a decimal comma (and perhaps "." between thousands): "2,55", "1.234,5"
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
#: what separates fields of whitespace-separated text, as the reader splits them
_BLANKS = re.compile(r"[ \t]+")
_DECIMAL_COMMA = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+$")


@dataclass(frozen=True)
class Dialect:
    """How to split a text file into columns.

    Attributes
    ----------
    delimiter : str
        One character, or ``"whitespace"`` (runs of spaces and tabs; leading ones ignored).
    header : bool
        Whether the first line holds the column names.
    names : tuple of str
        The column names: from the header line, else the ones given, else ``column1``, ...
    decimal_comma : bool
        Whether numbers are written with a decimal comma (``2,55``), as spreadsheets in many
        European locales write them, with ``;`` between fields.
    """

    delimiter: str
    header: bool
    names: tuple[str, ...]
    decimal_comma: bool = False


def normalize_delimiter(value: str | None) -> str | None:
    """The delimiter a ``--delimiter`` value stands for; None (or empty) means sniff it."""
    if not value:
        return None
    try:
        return DELIMITERS[value.lower()]
    except KeyError:
        raise DataValidationError(
            f"--delimiter {value!r}: expected one of , ; \\t | whitespace"
        ) from None


def _rows(lines: list[str], delimiter: str) -> list[list[str]]:
    """The fields of each non-blank record of ``lines``.

    For a one-character delimiter, as the csv module reads them: a quote opens a quoted field
    only at the start of a field (``12" ruler`` is text), and a line break inside quotes does
    not end a record. Whitespace-separated text has no quotes; its fields are split at runs of
    spaces and tabs, as the reader splits them (not at every character ``str.split`` takes
    for a space, such as U+0085).
    """
    if delimiter == WHITESPACE:
        stripped = (line.rstrip("\r\n").strip(" \t") for line in lines)
        return [_BLANKS.split(line) for line in stripped if line.strip()]
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO("".join(lines), newline=""), delimiter=delimiter)
    try:
        rows.extend(row for row in reader if row and (len(row) > 1 or row[0].strip()))
    except csv.Error:  # a malformed record: the ones before it decide
        pass
    return rows


def sniff(sample: str, *, delimiter: str | None = None, names: Sequence[str] = ()) -> Dialect:
    """Decide the delimiter and header of a text file from its first characters.

    Parameters
    ----------
    sample : str
        The start of the file, decoded. Its last line is ignored unless it ends with a line
        break: it may be cut by the sample size, or by an interrupted download.
    delimiter : str, optional
        Use this delimiter (a value from :func:`normalize_delimiter`) instead of guessing.
    names : sequence of str, optional
        Column names to use when the file has no header line (a preset's positional names).

    Returns
    -------
    Dialect
        The delimiter that splits the lines into the same number of fields most consistently
        (ties go to more fields, then to ``,`` ``;`` tab ``|`` before whitespace); the first
        line is a header unless it looks like data (see :func:`_looks_like_header`). Numbers
        have a decimal comma when the delimiter is not ``,`` and a data field looks like one.
    """
    # only CR and LF end a line, as in DuckDB (str.splitlines also splits on \x1c-\x1e, \x85, ...)
    lines = _LINE.findall(sample.lstrip("\ufeff"))
    if len(lines) > 1 and not lines[-1].endswith(("\n", "\r")):
        lines = lines[:-1]
    candidates = [delimiter] if delimiter else [",", ";", "\t", "|", WHITESPACE]
    split = {candidate: _rows(lines, candidate) for candidate in candidates}
    best, best_score = candidates[0], (-1.0, 0, 0)
    for rank, candidate in enumerate(candidates):
        counts = Counter(len(row) for row in split[candidate])
        if not counts:
            continue
        fields, seen = counts.most_common(1)[0]
        score = (seen / len(split[candidate]) if fields > 1 else 0.0, fields, -rank)
        if score > best_score:
            best, best_score = candidate, score
    rows = split[best]
    header = _looks_like_header(rows)
    if header:
        found = tuple(cell.strip() for cell in rows[0])
    else:
        width = max((len(r) for r in rows), default=len(names))
        found = tuple(names) if len(names) == width else ()
        found += tuple(f"column{i + 1}" for i in range(len(found), width))
    decimal_comma = best != "," and any(
        _DECIMAL_COMMA.match(cell.strip()) for row in rows[int(header) :] for cell in row
    )
    return Dialect(best, header, _unique(found), decimal_comma)


def _looks_like_header(rows: list[list[str]]) -> bool:
    # As DuckDB decides: the first line is data only when it fits the types of the lines below
    # it. A column that is numeric in every later line but not in the first one marks a header;
    # with no numeric column at all the first line is taken as a header (the usual case).
    if len(rows) < 2:
        return True
    width = len(rows[0])
    body = [r for r in rows[1:] if len(r) == width]
    numeric = [i for i in range(width) if body and all(_NUMBER.match(r[i].strip()) for r in body)]
    if not numeric:
        return True
    return any(not _NUMBER.match(rows[0][i].strip()) for i in numeric)


def _unique(names: Sequence[str]) -> tuple[str, ...]:
    # DuckDB needs distinct, non-empty column names; keep the user's where they are usable
    out: list[str] = []
    for i, name in enumerate(names):
        name = name or f"column{i + 1}"
        candidate, n = name, 2
        while candidate in out:
            candidate, n = f"{name}_{n}", n + 1
        out.append(candidate)
    return tuple(out)
