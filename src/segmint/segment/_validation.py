"""Input conversion and checks shared by the segment estimators and functions (private).

Everything that enters ``segmint.segment`` goes through :func:`as_numeric_frame`: pandas,
polars and pyarrow tables, numpy arrays and nested lists become one float64 pandas DataFrame
with string column names. Problems raise :class:`segmint.errors.DataValidationError` with a
message naming the offending column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from segmint.errors import DataValidationError


def _to_pandas(X: Any) -> tuple[pd.DataFrame, bool]:
    """Return ``(frame, had_names)``; convert polars/pyarrow at the boundary."""
    if isinstance(X, pd.DataFrame):
        return X, True
    if isinstance(X, pd.Series):
        return X.to_frame(), X.name is not None
    module = type(X).__module__.split(".")[0]
    if module in {"polars", "pyarrow"} and hasattr(X, "to_pandas"):
        frame = X.to_pandas()
        if isinstance(frame, pd.Series):
            frame = frame.to_frame()
        return frame, True
    if sp.issparse(X):
        msg = "sparse input is not supported; pass a dense array or a table"
        raise DataValidationError(msg)
    if hasattr(X, "__dataframe__") and not isinstance(X, np.ndarray):
        return pd.api.interchange.from_dataframe(X), True
    try:
        arr = np.asarray(X)
    except Exception as exc:  # pragma: no cover - exotic input
        msg = f"X could not be read as a table or array ({type(X).__name__}): {exc}"
        raise DataValidationError(msg) from exc
    if arr.ndim == 1:
        msg = (
            f"X must be 2-dimensional (rows x features), got a 1-d array of {arr.shape[0]} "
            "values; Reshape your data with X.reshape(-1, 1) for a single feature"
        )
        raise DataValidationError(msg)
    if arr.ndim != 2:
        msg = f"X must be 2-dimensional (rows x features), got an array with {arr.ndim} dimensions"
        raise DataValidationError(msg)
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])]), False


def as_numeric_frame(
    X: Any,
    *,
    min_rows: int = 1,
    allow_nan: bool = True,
    what: str = "X",
) -> tuple[pd.DataFrame, bool]:
    """Convert ``X`` to a float64 DataFrame with string column names and check it.

    Parameters
    ----------
    X : table or array-like of shape (n_samples, n_features)
        pandas / polars / pyarrow table, numpy array or nested list.
    min_rows : int, default=1
        Fewest rows accepted.
    allow_nan : bool, default=True
        Whether missing values are accepted (infinite values never are).
    what : str, default="X"
        Name used in error messages.

    Returns
    -------
    frame : pandas.DataFrame
        Numeric copy-free-where-possible float64 frame, same index as a pandas input.
    had_names : bool
        True when the input carried column names (any table type).

    Raises
    ------
    DataValidationError
        Empty input, too few rows, duplicated or non-numeric columns, infinite values.
    """
    frame, had_names = _to_pandas(X)
    if frame.shape[1] == 0:
        msg = (
            f"{what} has no columns: 0 feature(s) (shape={frame.shape}) while a minimum of 1 "
            "is required."
        )
        raise DataValidationError(msg)
    if frame.shape[0] == 0:
        msg = (
            f"{what} is empty: 0 sample(s) (shape={frame.shape}) while a minimum of "
            f"{max(min_rows, 1)} is required"
        )
        raise DataValidationError(msg)
    if frame.shape[0] < min_rows:
        msg = (
            f"{what} has {frame.shape[0]} row(s) (n_samples={frame.shape[0]}); "
            f"at least {min_rows} rows are needed"
        )
        raise DataValidationError(msg)
    columns = [str(c) for c in frame.columns]
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        msg = f"{what} has duplicated column names: {', '.join(dupes)}"
        raise DataValidationError(msg)
    bad = []
    converted = {}
    for col in frame.columns:
        dtype = frame[col].dtype
        if pd.api.types.is_complex_dtype(dtype):
            msg = f"{what} column {col!r}: Complex data not supported"
            raise DataValidationError(msg, column=str(col))
        elif pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
            continue
        elif pd.api.types.is_object_dtype(dtype):
            # numbers stored as Python objects are fine; text is not
            try:
                converted[col] = pd.to_numeric(frame[col], errors="raise")
            except (TypeError, ValueError):
                bad.append(f"{col} ({dtype})")
        else:
            bad.append(f"{col} ({dtype})")
    if bad:
        msg = (
            f"{what} has non-numeric column(s): {', '.join(bad)}; "
            "encode or drop them before segmenting"
        )
        raise DataValidationError(msg, column=str(bad[0].split(" (")[0]))
    if converted:
        frame = frame.assign(**{str(k): v for k, v in converted.items()})
    values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    out = pd.DataFrame(values, index=frame.index, columns=columns)
    finite = np.isfinite(values) | np.isnan(values)
    if not finite.all():
        cols = [columns[j] for j in np.flatnonzero(~finite.all(axis=0))]
        msg = f"{what} has infinite values in column(s): {', '.join(cols)}"
        raise DataValidationError(msg, column=cols[0])
    if not allow_nan and np.isnan(values).any():
        cols = [columns[j] for j in np.flatnonzero(np.isnan(values).any(axis=0))]
        msg = f"{what} has missing values in column(s): {', '.join(cols)}"
        raise DataValidationError(msg, column=cols[0])
    return out, had_names


def check_feature_names(estimator: Any, frame: pd.DataFrame, had_names: bool) -> pd.DataFrame:
    """Align ``frame`` to the features seen in ``fit`` (reorder by name, or check the count)."""
    expected = list(estimator._feature_names)
    if had_names and hasattr(estimator, "feature_names_in_"):
        missing = [c for c in expected if c not in frame.columns]
        if missing:
            msg = f"X is missing feature(s) seen in fit: {', '.join(missing)}"
            raise DataValidationError(msg, column=missing[0])
        return frame[expected]
    if frame.shape[1] != len(expected):
        msg = (
            f"X has {frame.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{len(expected)} features as input"
        )
        raise DataValidationError(msg)
    frame.columns = expected
    return frame


def as_labels(labels: Any, n: int, *, what: str = "labels") -> np.ndarray:
    """Return ``labels`` as a 1-d numpy array of length ``n`` (polars/pyarrow accepted)."""
    if hasattr(labels, "to_numpy"):
        arr = np.asarray(labels.to_numpy())
    else:
        arr = np.asarray(labels)
    arr = arr.reshape(-1) if arr.ndim > 1 and arr.shape[-1] == 1 else arr
    if arr.ndim != 1:
        msg = f"{what} must be 1-dimensional, got shape {arr.shape}"
        raise DataValidationError(msg)
    if arr.shape[0] != n:
        msg = f"{what} has {arr.shape[0]} entries but the features have {n} rows"
        raise DataValidationError(msg)
    if pd.isna(arr).any():
        msg = f"{what} has missing values; every row needs a segment"
        raise DataValidationError(msg)
    return arr


def to_python(value: Any) -> Any:
    """Convert numpy scalars (and NaN) to plain JSON-friendly Python values."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
