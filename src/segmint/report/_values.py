"""Coercions shared by the summary sections: stored values (NumPy scalars, JSON text, NaN)
to plain, JSON-able Python values, and feature labels."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import DataValidationError


def _num(value: Any) -> float | None:
    """A finite float or None (NaN, inf, None and unparseable values become None)."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _int(value: Any) -> int | None:
    v = _num(value)
    return None if v is None else round(v)


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _jsonable(value: Any) -> Any:
    """Recursively turn numpy/pandas scalars into plain Python; non-finite floats into None."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _num(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _maybe_json(value: Any, default: Any) -> Any:
    """Columns read back from the workspace may hold JSON text instead of objects."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return default
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return default
    return value


def _default_label(name: str) -> str:
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else name


def _label(name: str, labels: Mapping[str, str]) -> str:
    label = labels.get(name)
    if not label:
        return _default_label(name)
    return label[:1].upper() + label[1:]


def _check_columns(frame: pd.DataFrame, required: tuple[str, ...], source: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        msg = f"missing column(s) {', '.join(missing)}; got {', '.join(map(str, frame.columns))}"
        raise DataValidationError(msg, source=source)


def _mapping(value: Any) -> Mapping[str, Any]:
    value = _maybe_json(value, {})
    return value if isinstance(value, Mapping) else {}
