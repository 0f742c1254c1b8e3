"""Categories derived from product descriptions (toy data with known answers, and real UCI data)."""

from __future__ import annotations

from datetime import datetime

import duckdb
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, homogeneity_score

from segmint.features import build_features, derive_categories, stock_code_family

# Four known categories; each description mixes the category's words with shared noise words.
KNOWN = {
    "mug": ["mug", "coffee", "cup", "tea"],
    "bag": ["bag", "lunch", "tote", "shopper"],
    "candle": ["candle", "wax", "scented", "holder"],
    "card": ["card", "greeting", "birthday", "envelope"],
}
NOISE = ["pink", "vintage", "heart", "star", "spotty", "floral", "retro", "white"]


def _toy_products(n_per_category: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = []
    for c, (category, words) in enumerate(KNOWN.items()):
        for i in range(n_per_category):
            text = [*rng.choice(words, 2, replace=False), *rng.choice(NOISE, 2, replace=False)]
            rng.shuffle(text)
            rows.append((f"{c}{i:03d}", " ".join(text).upper(), category))
    return rows


@pytest.fixture
def toy_con(con):
    rows = _toy_products()
    con.executemany(
        "INSERT INTO transactions VALUES ('C1', 'o1', TIMESTAMP '2024-01-01', ?, ?, NULL,"
        " 1, 1.0, 1.0, 'web', false)",
        [(p, d) for p, d, _ in rows],
    )
    return con, {p: c for p, _, c in rows}


def _ari(table, truth):
    derived = dict(zip(table["product_id"].to_pylist(), table["category"].to_pylist(), strict=True))
    products = sorted(truth)
    return adjusted_rand_score([truth[p] for p in products], [derived[p] for p in products])


def test_toy_categories_match_known_ones(toy_con):
    con, truth = toy_con
    table = derive_categories(con, n_categories=4)
    assert table.column_names == ["product_id", "category"]
    assert table.num_rows == len(truth)
    assert _ari(table, truth) > 0.9
    # Each derived category is named after its product type's words, not the noise.
    names = set(table["category"].to_pylist())
    for category in KNOWN:
        assert any(category in name or any(w in name for w in KNOWN[category]) for name in names)


def test_toy_number_of_categories_chosen_automatically(toy_con):
    con, truth = toy_con
    table = derive_categories(con, k_range=(2, 8))
    derived = dict(zip(table["product_id"].to_pylist(), table["category"].to_pylist(), strict=True))
    products = sorted(truth)
    # Silhouette may split a known category in two (e.g. "mug/coffee" and "cup/tea"), but a
    # derived category never mixes two known ones.
    assert 4 <= len(set(derived.values())) <= 8
    assert homogeneity_score([truth[p] for p in products], [derived[p] for p in products]) > 0.95


def test_derivation_is_reproducible(toy_con):
    con, _ = toy_con
    assert derive_categories(con, k_range=(2, 6)).equals(derive_categories(con, k_range=(2, 6)))


def test_categories_learned_before_a_date_ignore_later_products(toy_con):
    con, truth = toy_con
    cut = datetime(2024, 2, 1)
    before = derive_categories(con, n_categories=4)
    # later lines: a new product of each known category, and an early product renamed
    later = [
        ("N0", "COFFEE MUG PINK STAR", "mug"),
        ("N1", "LUNCH BAG TOTE RETRO", "bag"),
        ("N2", "SCENTED CANDLE WAX HEART", "candle"),
        ("N3", "BIRTHDAY CARD ENVELOPE", "card"),
        ("0000", "ZEBRA ZEBRA ZEBRA", "mug"),
        ("0000", "ZEBRA ZEBRA ZEBRA", "mug"),
    ]
    con.executemany(
        "INSERT INTO transactions VALUES ('C2', 'o2', TIMESTAMP '2024-03-01', ?, ?, NULL,"
        " 1, 1.0, 1.0, 'web', false)",
        [(p, d) for p, d, _ in later],
    )
    table = derive_categories(con, before=cut, n_categories=4)
    derived = dict(zip(table["product_id"].to_pylist(), table["category"].to_pylist(), strict=True))
    # the products sold before the date keep exactly the categories learned from them alone
    assert {p: derived[p] for p in truth} == dict(
        zip(before["product_id"].to_pylist(), before["category"].to_pylist(), strict=True)
    )
    # each new product joins the learned category of its kind (no new category appears)
    assert set(derived.values()) == set(before["category"].to_pylist())
    for product, _, kind in later[:4]:
        same_kind = {derived[p] for p, c in truth.items() if c == kind}
        assert derived[product] in same_kind


def test_build_features_derives_categories_when_missing(toy_con):
    con, _ = toy_con
    table = build_features(con, as_of=datetime(2024, 2, 1), n_top_categories=50)
    shares = [c for c in table.column_names if c.startswith("cat_share_")]
    row = table.to_pylist()[0]
    assert row["n_categories"] == len(shares) >= 4
    assert sum(row[c] for c in shares) == pytest.approx(1.0)


def test_stock_code_families():
    assert stock_code_family("85123A") == "code 85"
    assert stock_code_family("POST") == "POST"
    assert stock_code_family("dcgs0003") == "DCGS"
    assert stock_code_family(None) == "other"


def test_missing_descriptions_fall_back_to_stock_code_families(con):
    con.executemany(
        "INSERT INTO transactions VALUES ('C1', 'o1', TIMESTAMP '2024-01-01', ?, NULL, NULL,"
        " 1, 1.0, 1.0, 'web', false)",
        [("85123A",), ("85099B",), ("POST",), ("22423",)],
    )
    table = derive_categories(con)
    assert dict(zip(*table.to_pydict().values(), strict=True)) == {
        "22423": "code 22",
        "85099B": "code 85",
        "85123A": "code 85",
        "POST": "POST",
    }


@pytest.mark.slow
def test_online_retail_categories_are_readable(online_retail_csv):
    con = duckdb.connect()
    # Only product_id and description matter here; the other columns are typed placeholders.
    con.execute(
        """
        CREATE TABLE transactions AS
        SELECT NULL::VARCHAR AS customer_id, InvoiceNo AS order_id, NULL::TIMESTAMP AS ts,
               StockCode AS product_id, Description AS description, NULL::VARCHAR AS category,
               NULL::DOUBLE AS quantity, NULL::DOUBLE AS unit_price, NULL::DOUBLE AS amount,
               NULL::VARCHAR AS channel, NULL::BOOLEAN AS is_return
        FROM read_csv(?, all_varchar = true)
        """,
        [str(online_retail_csv)],
    )
    table = derive_categories(con)
    names = set(table["category"].to_pylist())
    clusters = {n for n in names if not n.startswith("code ") and not n.isupper()}
    assert 8 <= len(clusters) <= 20
    assert any("christmas" in n for n in names)
    assert any("bag" in n or "lunch" in n for n in names)
    assert table.num_rows == 4070  # every distinct stock code gets a category


def test_no_products_no_categories(con):
    # CDNOW's log has no product column: nothing to categorise, and the features still build
    con.execute(
        "INSERT INTO transactions VALUES ('C1', 'o1', TIMESTAMP '2024-01-01', NULL, NULL, NULL,"
        " 1, 10.0, 10.0, NULL, false), ('C1', 'o2', TIMESTAMP '2024-02-01', NULL, NULL, NULL,"
        " 2, 5.0, 10.0, NULL, false)"
    )
    derived = derive_categories(con)
    assert derived.num_rows == 0 and derived.column_names == ["product_id", "category"]
    features = build_features(con, as_of=datetime(2024, 3, 1)).to_pandas()
    assert len(features) == 1 and features["monetary"].iloc[0] == 20.0
