"""Every word of every segment and micro-segment name is backed by its profile, on every data
set we have.

Runs: the synthetic demo data, UCI Online Retail and CDNOW (each skipped when absent). For each
segment the name is rebuilt with :func:`name_traits` from the run's own features and labels, and
checked twice: each trait it lists holds (:func:`trait_holds`) and covers the name's words, and
the words with a plain meaning are checked directly against the profile numbers. A
micro-segment's name is checked the same way against its profile among all customers (a
micro-segment is a taste across segments).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from segmint import pipeline
from segmint.errors import SegmintError
from segmint.pipeline._segment import SegmentOptions, fit_segments, read_features
from segmint.segment import name_traits, profile_segments, trait_holds, trait_words
from segmint.segment.naming import _VOCAB
from segmint.store.workspace import Workspace

_FILLER = {"customers", "typical"}
#: the fixed adjectives of the naming vocabulary
_VOCABULARY = {adj for pair in _VOCAB.values() for adj, _ in pair if adj}


def _run(ws: Workspace):
    with ws.connect(read_only=True) as con:
        features, as_of, fingerprint, _, history = read_features(con, None)
    return fit_segments(features, as_of, fingerprint, SegmentOptions().check(), history=history)


def _tokens(text: str) -> list[str]:
    words = (t.strip(",;") for t in text.lower().split())  # names list adjectives with commas
    return [t for t in words if t and not re.fullmatch(r"#\d+", t)]


def _check_run(result) -> None:
    labels = result.assignments["segment_id"].to_numpy()
    profiles = profile_segments(result.features, labels, value="monetary")
    names = dict(zip(result.segments["segment_id"], result.segments["name"], strict=True))
    _check_names(profiles, names)
    _check_micro(result)


def _check_micro(result) -> None:
    micro_of = result.assignments["micro_segment_id"].to_numpy()
    stored = result.micro_segments
    assert set(stored["micro_segment_id"]) == set(micro_of)
    assert stored["size"].sum() == len(micro_of) and stored["name"].is_unique
    # a name selects one group: no micro-segment is named as a segment is
    segment_names = list(result.segments["name"])
    assert not {n.lower() for n in stored["name"]} & {n.lower() for n in segment_names}
    if len(stored) > 1:
        profiles = profile_segments(result.features, micro_of, value=None)
        names = dict(zip(stored["micro_segment_id"], stored["name"], strict=True))
        _check_names(profiles, names, taken=segment_names)


def _check_names(profiles, names: dict, taken: tuple[str, ...] | list[str] = ()) -> None:
    named = name_traits(profiles, taken=taken)
    for seg, (name, traits) in named.items():
        assert names[seg] == name
        stats = profiles.stats.xs(seg, level="segment")
        backed: set[str] = set()
        for feature, high in traits:
            assert trait_holds(feature, high, stats), (name, feature, high)
            for word in trait_words(feature, high):
                backed.update(_tokens(word or ""))
            if feature.startswith("attr_"):  # attribute values read as "<Value> <key>"
                backed.update(feature.removeprefix("attr_").replace("__", "_").split("_"))
                backed.add("no")
        for token in _tokens(name):
            assert token in _FILLER or token in backed, (name, token, traits)
        _check_plain_meaning(name.lower(), stats)


def _mean(stats: pd.DataFrame, feature: str) -> float:
    return float(stats.at[feature, "segment_mean"])


def _check_plain_meaning(name: str, stats: pd.DataFrame) -> None:
    """The words a reader takes literally, checked against the numbers without the namer."""
    med = stats["segment_median"]
    if "single-category" in name:
        assert med["n_categories"] <= 1 and _mean(stats, "n_categories") <= 1.5, name
    if "one-off" in name:
        assert med["frequency"] <= 1, name
    if "return-prone" in name or "returners" in name:
        assert _mean(stats, "return_rate") >= 0.05, name
    if "growing" in name or "declining" in name:
        assert med["tenure_days"] >= 180, name
        assert (_mean(stats, "spend_trend") > 0) == ("growing" in name), name
    for feature in stats.index:
        if feature.startswith("cat_share_"):
            label = feature.removeprefix("cat_share_").replace("_", " ")
            if f"{label} fans" in name or f"{label.replace(' ', '-')}-focused" in name:
                row = stats.loc[feature]
                assert row["segment_mean"] >= 1.5 * row["population_mean"], name
                assert row["segment_mean"] >= row["population_mean"] + 0.05, name
    # no column dump ("high-channel horeca"); the vocabulary's own words ("high-value") are fine
    dumps = re.findall(r"\b((?:high|low)-\w+) \w+ ", name)
    assert "_" not in name and all(d in _VOCABULARY for d in dumps), name


def test_demo_names_backed_by_profiles(tmp_path):
    ws = Workspace(tmp_path / "ws")
    pipeline.demo(ws, n_customers=1500)
    _check_run(_run(ws))


@pytest.mark.slow
def test_online_retail_names_backed_by_profiles(tmp_path, online_retail_csv):
    ws = Workspace(tmp_path / "ws")
    pipeline.ingest(ws, online_retail_csv, preset="online-retail")
    _check_run(_run(ws))


@pytest.mark.slow
def test_cdnow_names_backed_by_profiles(tmp_path, cdnow_sample):
    from segmint.datasets.cdnow import load_cdnow

    df = load_cdnow(cdnow_sample).rename(columns={"date": "ts"})
    path = tmp_path / "cdnow.csv"
    df.to_csv(path, index=False)
    ws = Workspace(tmp_path / "ws")
    pipeline.ingest(ws, path)
    try:
        result = _run(ws)
    except SegmintError as exc:  # data without categories: issue 10 item 5, not this test
        pytest.skip(f"CDNOW does not segment yet: {exc}")
    _check_run(result)


def _profile(columns: dict[str, list[float]], labels: list[int]):
    return profile_segments(pd.DataFrame(columns), labels, value=None)


def test_no_trend_words_without_history():
    # segment 1 spends much more recently, but its customers are 30 days old: no "growing"
    rng = np.random.default_rng(0)
    n = 40
    trend = np.r_[rng.normal(0, 0.1, n), rng.normal(3, 0.1, n)]
    young = {"spend_trend": trend, "tenure_days": np.r_[np.full(n, 400.0), np.full(n, 30.0)]}
    old = {"spend_trend": trend, "tenure_days": np.full(2 * n, 400.0)}
    labels = [0] * n + [1] * n
    young_names = {s: n for s, (n, _) in name_traits(_profile(young, labels)).items()}
    old_names = {s: n for s, (n, _) in name_traits(_profile(old, labels)).items()}
    assert "growing" not in young_names[1].lower()
    assert "Growing" in old_names[1]


def test_single_category_only_when_about_one_category():
    # segment 1 buys from fewer categories than everyone else, but still 4-5 of them
    rng = np.random.default_rng(1)
    cats = np.r_[rng.integers(8, 12, 50), rng.integers(4, 6, 50)].astype(float)
    named = name_traits(_profile({"n_categories": cats}, [0] * 50 + [1] * 50))
    assert "single-category" not in named[1][0].lower()
    cats[50:] = 1.0
    named = name_traits(_profile({"n_categories": cats}, [0] * 50 + [1] * 50))
    assert named[1][0] == "Single-category customers"


def test_fans_only_when_share_clearly_above_everyone():
    share = np.r_[np.full(50, 0.30), np.full(50, 0.33)]  # high lift, but barely more spend
    named = name_traits(_profile({"cat_share_bath": share}, [0] * 50 + [1] * 50))
    assert "bath" not in named[1][0].lower()


def test_attribute_values_read_as_words():
    horeca = [1.0] * 40 + [0.0] * 60
    spend = [900.0] * 40 + [100.0] * 60
    named = name_traits(
        _profile({"attr_channel__horeca": horeca, "monetary": spend}, [0] * 40 + [1] * 60)
    )
    assert named[0][0] == "Horeca channel big spenders"
    assert "channel" not in named[1][0].lower()  # not "Low-channel horeca"


def test_a_taken_name_is_not_given_again():
    # a name given elsewhere in the run (a segment's, when naming micro-segments) is told
    # apart by a further trait where one holds, else numbered; every word still from a trait
    rng = np.random.default_rng(0)
    spend = np.r_[rng.normal(100, 5, 50), rng.normal(400, 5, 50)]
    recency = np.r_[rng.normal(40, 10, 50), rng.normal(30, 10, 50)]
    profiles = _profile({"monetary": spend, "recency_days": recency}, [0] * 50 + [1] * 50)
    free = {s: n for s, (n, _) in name_traits(profiles).items()}
    named = name_traits(profiles, taken=[free[1].upper(), f"{free[1]} #2"])
    assert named[0][0] == free[0]
    assert named[1][0] == f"{free[1]} #3"
    backed = {t for f, high in named[1][1] for w in trait_words(f, high) for t in _tokens(w or "")}
    assert set(_tokens(named[1][0])) <= backed | _FILLER
