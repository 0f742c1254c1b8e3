"""PropensityModel and NextPurchaseModel on synthetic data, evaluated on a later cut-off."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from segmint.errors import DataValidationError
from segmint.predict import NextPurchaseModel, PropensityModel
from segmint.predict.churn import split_frame
from segmint.predict.evaluation import mean_absolute_error, roc_auc

CUTOFFS = [datetime(2024, 3, 1), datetime(2024, 5, 1), datetime(2024, 7, 1), datetime(2024, 10, 1)]


@pytest.fixture(scope="module")
def con():
    from segmint.datasets import generate

    data = generate(1500, seed=5)
    connection = duckdb.connect()
    connection.register("tx", data.transactions)
    connection.execute("CREATE TABLE transactions AS SELECT * FROM tx")
    yield connection
    connection.close()


def test_propensity_per_category(con):
    from segmint.features import training_frames

    frames = training_frames(
        con, cutoffs=CUTOFFS, horizon_days=90, label="category", n_top_categories=3
    ).to_pandas()
    labels = [c for c in frames.columns if c.startswith("buy_")]
    assert len(labels) == 3
    train, test = frames[frames.cutoff < CUTOFFS[-1]], frames[frames.cutoff == CUTOFFS[-1]]
    X, Y, groups, _ = split_frame(train, labels)
    Xt, Yt, _, _ = split_frame(test, labels)
    m = PropensityModel(random_state=0).fit(X, Y, groups=groups)
    p = m.predict_proba(Xt)
    assert list(p.columns) == labels and p.index.equals(Xt.index)
    assert ((p.to_numpy() >= 0) & (p.to_numpy() <= 1)).all()
    for name in labels:
        # better than ranking by the customer's past share of spend in the category
        share = "cat_share_" + name.removeprefix("buy_")
        auc = roc_auc(Yt[name], p[name])
        assert auc > 0.65, name
        if share in Xt:
            assert auc > roc_auc(Yt[name], Xt[share].fillna(0)) - 0.02, name
    r = m.reasons(Xt.head(5), labels[0], top=2)
    assert list(r.columns) == ["reason_1", "reason_2"]
    with pytest.raises(DataValidationError, match="unknown label"):
        m.reasons(Xt.head(5), "buy_nothing")


def test_next_purchase_beats_constant_and_rhythm(con):
    from segmint.features import training_frames

    frames = training_frames(con, cutoffs=CUTOFFS, horizon_days=90, label="purchase").to_pandas()
    drop = ("purchase", "next_observed")
    train, test = frames[frames.cutoff < CUTOFFS[-1]], frames[frames.cutoff == CUTOFFS[-1]]
    X, y, _, _ = split_frame(train, "days_to_next", drop=drop)
    Xt, yt, _, _ = split_frame(test, "days_to_next", drop=drop)
    m = NextPurchaseModel(horizon_days=90, random_state=0).fit(X, y)
    pred = m.predict(Xt)
    assert ((pred >= 0) & (pred <= 90)).all()
    mae = mean_absolute_error(yt, pred)
    constant = mean_absolute_error(yt, np.full(len(yt), np.median(y)))
    rhythm = np.clip(Xt.interpurchase_mean_days - Xt.recency_days, 0, 90).fillna(90)
    assert mae < 0.9 * constant
    assert mae < mean_absolute_error(yt, rhythm)
    dates = m.predict_date(Xt, CUTOFFS[-1])
    assert np.isnat(dates[pred >= 90]).all()
    assert (dates[pred < 90] >= np.datetime64(CUTOFFS[-1])).all()


def test_next_purchase_rejects_uncensored_targets():
    X = pd.DataFrame({"recency_days": [1.0, 2.0, 3.0]})
    with pytest.raises(DataValidationError, match="censored at the horizon"):
        NextPurchaseModel(horizon_days=30).fit(X, [5.0, 40.0, 10.0])


def test_propensity_needs_dataframe_labels():
    X = pd.DataFrame({"recency_days": [1.0, 2.0]})
    with pytest.raises(DataValidationError, match="Y must be a DataFrame"):
        PropensityModel().fit(X, np.array([0, 1]))
