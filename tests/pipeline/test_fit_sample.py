"""At scale the segmentation is fitted on a sample and every customer is assigned."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segmint import pipeline
from segmint.datasets import generate, write
from segmint.features import build_features
from segmint.pipeline._outcomes import earlier_period, learn_days, next_period_spend
from segmint.pipeline._segment import SegmentOptions, fit_segments, read_features
from segmint.store.workspace import Workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit-sample")
    paths = write(generate(3000, seed=5), root / "data")
    ws = Workspace(root / "ws")
    pipeline.ingest(ws, paths["transactions"], customers=paths["customers"])
    return ws


def test_a_hash_sample_of_customers_has_their_own_features(workspace):
    with workspace.connect(read_only=True) as con:
        full = build_features(con, n_top_categories=8).to_pandas().set_index("customer_id")
        part = build_features(con, n_top_categories=8, sample=0.3).to_pandas()
        again = build_features(con, n_top_categories=8, sample=0.3).to_pandas()
    part = part.set_index("customer_id")
    # about 30% of the customers, the same ones every time, with exactly their features
    assert 0.25 * len(full) < len(part) < 0.35 * len(full)
    assert list(part.index) == list(again["customer_id"])
    assert list(part.columns) == list(full.columns)  # categories chosen on everyone
    pd.testing.assert_frame_equal(part, full.loc[part.index])


def test_a_samples_outcomes_are_summed_for_its_customers_alone(workspace):
    with workspace.connect(read_only=True) as con:
        (first,) = con.execute("SELECT min(ts) FROM transactions").fetchone()
        index = pd.Index(
            [r[0] for r in con.execute("SELECT DISTINCT customer_id FROM transactions").fetchall()]
        ).sort_values()
        every = next_period_spend(con, first, 3650, index)
        sample = index[::7]
        net, bought = next_period_spend(con, first, 3650, sample, sampled=True)
    # the customers' own sums, whoever else bought what
    pd.testing.assert_series_equal(net, every[0].loc[sample])
    columns = bought.columns
    pd.testing.assert_frame_equal(bought, every[1].loc[sample, columns])
    # a category only others bought is left out, not a column of zeros
    dropped = every[1].columns.difference(columns)
    assert (every[1].loc[sample, dropped].to_numpy() == 0).all()


def test_a_fit_on_a_sample_assigns_describes_and_counts_every_customer(workspace):
    with workspace.connect(read_only=True) as con:
        features, as_of, fingerprint, _, history = read_features(con, None)
        sampled = earlier_period(con, features, as_of, None, sample=0.3)
    assert len(sampled.features) < 0.4 * len(history.features)
    full = fit_segments(features, as_of, fingerprint, SegmentOptions(), history=history)
    part = fit_segments(
        features, as_of, fingerprint, SegmentOptions(), history=sampled, fit_sample=900
    )
    assert list(part.assignments["customer_id"]) == list(features.index)
    assert part.segments["size"].sum() == len(features)
    assert part.micro_segments["size"].sum() == len(features)
    assert part.segments["value_share"].sum() == pytest.approx(1.0)
    # k is chosen on the sample's own earlier period, which may choose another k (measured: 3
    # on everyone, 5 on this 30%); with the same k, 30% of the customers find about the
    # segments all of them find (measured ARI 0.82)
    k = len(full.segments)
    same_k = fit_segments(
        features,
        as_of,
        fingerprint,
        SegmentOptions(n_segments=k),
        history=sampled,
        fit_sample=900,
    )
    agreement = adjusted_rand_score(
        full.assignments["segment_id"], same_k.assignments["segment_id"]
    )
    assert agreement > 0.7


def test_the_earlier_period_is_half_the_data_before_the_cut_off_at_most_a_quarter(workspace):
    with workspace.connect(read_only=True) as con:
        features, as_of, _, _, history = read_features(con, None)
        (first,) = con.execute("SELECT min(ts) FROM transactions").fetchone()
        short = earlier_period(con, features, first + timedelta(days=121), None)
        too_short = earlier_period(con, features, first + timedelta(days=89), None)
    assert history.days == 90 and history.previous.days == 90  # two years of data
    assert history.cutoff == as_of - timedelta(days=90)
    assert history.label == f"{as_of - timedelta(days=90):%Y-%m-%d} +90d"
    # four months of data: a 60-day period starting two months in
    assert short.days == 60 and short.cutoff == first + timedelta(days=61)
    assert too_short is None  # under a quarter of data: nothing earlier to learn from
    assert learn_days(first, first + timedelta(days=104)) == 52
