"""Command options checked before any data is read."""

from __future__ import annotations

from datetime import datetime

from segmint.errors import DataValidationError


def parse_date(text: str) -> datetime:
    """A ``YYYY-MM-DD`` (or ISO datetime) string from the command line as a UTC datetime."""
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise DataValidationError(f"--as-of {text!r}: expected a date like 2024-06-30") from None
