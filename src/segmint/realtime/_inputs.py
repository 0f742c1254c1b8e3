"""Coercion of the values callers hand the live profiles: times to UTC microseconds, columns
to object or float arrays of the expected length (a mismatch is a clear error)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import DataValidationError
from segmint.features import to_naive_utc


def to_us(values: Any) -> np.ndarray:
    """Timestamps (datetimes, datetime64, ISO strings; naive = UTC) as int64 microseconds."""
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[us]").astype(np.int64)
    idx = pd.DatetimeIndex(pd.to_datetime(pd.Series(arr.ravel()), utc=True))
    if idx.isna().any():
        raise DataValidationError("timestamps must not be missing", column="ts")
    return idx.as_unit("us").asi8.copy()


def scalar_us(value: datetime | date) -> int:
    return int(to_us(np.array([to_naive_utc(value)], dtype="datetime64[us]"))[0])


def as_object(values: Any, n: int, what: str) -> np.ndarray:
    if values is None:
        return np.full(n, None, dtype=object)
    arr = np.asarray(values, dtype=object).ravel()
    if arr.size != n:
        raise DataValidationError(f"{what} has {arr.size} values, expected {n}", column=what)
    return arr


def as_float(values: Any, n: int, what: str) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan)
    arr = pd.to_numeric(pd.Series(np.asarray(values, dtype=object).ravel()), errors="coerce")
    out = arr.to_numpy(dtype=np.float64, na_value=np.nan)
    if out.size != n:
        raise DataValidationError(f"{what} has {out.size} values, expected {n}", column=what)
    return out
