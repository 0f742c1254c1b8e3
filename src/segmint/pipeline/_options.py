"""Command options checked before any data is read, so a typo costs nothing and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from segmint.errors import DataValidationError
from segmint.segment.cluster import _METHODS as METHODS


def parse_date(text: str, option: str = "--as-of") -> datetime:
    """A ``YYYY-MM-DD`` (or ISO datetime) string from the command line as a naive UTC datetime.

    A time zone, when given, is converted to UTC.
    """
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise DataValidationError(
            f"{option} {text!r}: expected a date like 2024-06-30 (YYYY-MM-DD)"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None)


#: the spaces segments can be found in: "useful" (value, behaviour and interest learned from
#: the quarter before; the default) or "behaviour" (every behaviour feature equally)
SPACES = ("useful", "behaviour")


def check_space(space: str) -> str:
    """The segment space, if it is one of :data:`SPACES`."""
    if space not in SPACES:
        raise DataValidationError(f"--space {space!r}: expected one of {', '.join(SPACES)}")
    return space


def check_method(method: str) -> str:
    """The clustering method, if the segmenter knows it."""
    if method not in METHODS:
        raise DataValidationError(f"--method {method!r}: expected one of {', '.join(METHODS)}")
    return method
