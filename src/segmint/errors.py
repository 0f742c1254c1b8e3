"""One exception family for problems a user can fix.

The CLI prints a :class:`SegmintError` as one message and exits non-zero; the API returns it as
problem JSON. Anything else escaping the library is a bug.
"""

from __future__ import annotations


class SegmintError(Exception):
    """Base class of every user-facing segmint error."""

    exit_code = 1


class DataValidationError(SegmintError, ValueError):
    """Input data does not match what was expected.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    source : str, optional
        The file or table the data came from.
    row : int, optional
        1-based data row (the header is row 0) where the problem was found.
    column : str, optional
        The column or field concerned.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.source = source
        self.row = row
        self.column = column
        where = []
        if source is not None:
            where.append(str(source))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class WorkspaceError(SegmintError):
    """The workspace is missing, locked, corrupt or lacks what a command needs."""


class RunNotFoundError(WorkspaceError, LookupError):
    """A run id that the workspace does not hold."""


class ModelError(SegmintError):
    """A model cannot be fitted or used on the given data (not identifiable, did not converge)."""


class ConsentError(SegmintError):
    """The customer has not consented to the purpose an output declares (or was erased)."""


class AudienceTooSmall(SegmintError):
    """An output would describe a group of fewer customers than the minimum audience size."""
