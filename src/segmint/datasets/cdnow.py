"""Loader for the CDNOW transaction logs and the calibration/holdout RFM summary of the papers.

The files (``CDNOW_master.txt[.gz]`` with a header, 23,570 customers; ``CDNOW_sample.txt[.gz]``
without one, the standard 1/10 sample of 2,357 customers) are read by path; nothing is bundled
or downloaded. The summary follows Fader, Hardie & Lee (2005): weeks as the time unit, purchases
on the same day merged into one transaction, a 39-week calibration period ending 1997-09-30 and
a holdout period ending 1998-06-30 (week 78).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from segmint.errors import DataValidationError

__all__ = ["load_cdnow", "cdnow_rfm_summary"]

CALIBRATION_END = "1997-09-30"
HOLDOUT_END = "1998-06-30"


def load_cdnow(path: str | Path) -> pd.DataFrame:
    """Read a CDNOW transaction file (master or 1/10 sample, plain or gzipped).

    Parameters
    ----------
    path : str or Path
        ``CDNOW_master.txt[.gz]`` or ``CDNOW_sample.txt[.gz]``.

    Returns
    -------
    DataFrame
        One row per transaction line: ``customer_id`` (str, the master file's zero-padded
        id), ``date`` (datetime64), ``quantity`` (int, number of CDs), ``amount`` (float, USD).

    Examples
    --------
    >>> df = load_cdnow("/work/shared/data/cdnow/CDNOW_sample.txt.gz")  # doctest: +SKIP
    >>> df["customer_id"].nunique()  # doctest: +SKIP
    2357
    """
    path = Path(path)
    if not path.exists():
        raise DataValidationError(f"CDNOW file not found: {path}", source=str(path))
    raw = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, engine="python")
    first = raw.iloc[0].tolist()
    if first and str(first[0]).lower() == "customer_id":
        raw = raw.iloc[1:].reset_index(drop=True)
    if raw.shape[1] == 5:  # sample: master id, sample id, date, cds, dollars
        raw = raw.iloc[:, [0, 2, 3, 4]]
    elif raw.shape[1] != 4:
        raise DataValidationError(
            f"expected 4 (master) or 5 (sample) whitespace-separated columns, got {raw.shape[1]}",
            source=str(path),
        )
    raw.columns = ["customer_id", "date", "quantity", "amount"]
    try:
        date = pd.to_datetime(raw["date"], format="%Y%m%d")
    except ValueError as exc:
        raise DataValidationError(
            f"unparseable date ({exc})", source=str(path), column="date"
        ) from None
    return pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype(str),
            "date": date,
            "quantity": pd.to_numeric(raw["quantity"]).astype("int64"),
            "amount": pd.to_numeric(raw["amount"]).astype(float),
        }
    )


def cdnow_rfm_summary(
    transactions: pd.DataFrame,
    calibration_end: str = CALIBRATION_END,
    holdout_end: str = HOLDOUT_END,
    days_per_unit: float = 7.0,
) -> pd.DataFrame:
    """Per-customer calibration RFM and holdout counts, as in the BTYD papers.

    Same-day purchases are merged into one transaction (amounts summed). Time is measured in
    weeks (``days_per_unit`` days) from each customer's first purchase.

    Returns
    -------
    DataFrame, one row per customer, sorted by ``customer_id``:
        ``frequency`` (repeat transactions in calibration), ``recency`` (time of the last
        calibration repeat transaction, 0 if none), ``T`` (first purchase to ``calibration_end``),
        ``monetary_value`` (mean amount of the calibration *repeat* transactions, 0 if none —
        the input of the Gamma-Gamma model in Fader & Hardie's note), ``first_amount``,
        ``frequency_holdout`` (repeat transactions after ``calibration_end`` up to
        ``holdout_end``), ``duration_holdout`` and ``T_holdout_end`` (first purchase to
        ``holdout_end``).
    """
    cal_end = pd.Timestamp(calibration_end)
    hold_end = pd.Timestamp(holdout_end)
    daily = (
        transactions.groupby(["customer_id", "date"], as_index=False, sort=True)["amount"]
        .sum()
        .sort_values(["customer_id", "date"], kind="stable")
    )
    first = daily.groupby("customer_id")["date"].transform("min")
    is_first = daily["date"] == first
    cal = daily[(daily["date"] <= cal_end)]
    grp = cal.groupby("customer_id")
    first_date = grp["date"].min()
    last_date = grp["date"].max()
    n_cal = grp.size()
    repeat_cal = cal[~is_first.loc[cal.index]]
    rep_amount = repeat_cal.groupby("customer_id")["amount"].mean()
    first_amount = daily[is_first].set_index("customer_id")["amount"]
    hold = daily[(daily["date"] > cal_end) & (daily["date"] <= hold_end)]
    n_hold = hold.groupby("customer_id").size()
    unit = pd.Timedelta(days=days_per_unit)
    out = pd.DataFrame(
        {
            "frequency": (n_cal - 1).astype("int64"),
            "recency": (last_date - first_date) / unit,
            "T": (cal_end - first_date) / unit,
        }
    )
    out["monetary_value"] = rep_amount.reindex(out.index).fillna(0.0)
    out["first_amount"] = first_amount.reindex(out.index)
    out["frequency_holdout"] = n_hold.reindex(out.index).fillna(0).astype("int64")
    out["duration_holdout"] = (hold_end - cal_end) / unit
    out["T_holdout_end"] = (hold_end - first_date) / unit
    out.index.name = "customer_id"
    out = out.reset_index()
    if (out["T"] < 0).any():
        i = int(np.flatnonzero(out["T"].to_numpy() < 0)[0])
        raise DataValidationError(
            f"customer {out['customer_id'].iloc[i]!r} first purchased after calibration_end",
            column="date",
        )
    return out
