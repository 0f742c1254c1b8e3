"""``segmint run --customers FILE`` with no transactions, end to end through the CLI on a real
DuckDB workspace: the IBM telco and UCI wholesale files (skipped when absent), hostile customers
files, and ``--use-attributes`` next to behaviour.

Every segment name is rebuilt from the stored features and checked: each trait behind it holds
in the segment's profile, and each word of it comes from one of those traits' readable labels.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from segmint.cli import app
from segmint.datasets import generate, write
from segmint.features import feature_label
from segmint.realtime.live import LiveState
from segmint.segment import name_traits, profile_segments, trait_holds, trait_words
from segmint.store.runs import features_table, load_model
from segmint.store.workspace import Workspace

runner = CliRunner()

_FILLER = {"customers", "typical", "no", "high", "low"}


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _data_file(shared_data: Path, folder: str, name: str) -> Path:
    path = shared_data / folder / name
    if not path.is_file():
        pytest.skip(f"{path} not found; the customers-only tests need it")
    return path


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,\-]+", text.lower()) if w and not re.fullmatch(r"#\d+", w)]


def check_names(ws: str, run: dict) -> None:
    """Every name is rebuilt from the run's stored features, and every word of it is backed by
    a trait that holds in the segment's profile."""
    with Workspace(ws).connect(read_only=True) as con:
        features = con.execute(f"SELECT * FROM {features_table(run['run_id'])}").df()
        labels = con.execute(
            "SELECT customer_id, segment_id FROM assignments WHERE run_id = ?", [run["run_id"]]
        ).df()
    features = features.merge(labels, on="customer_id").set_index("customer_id")
    segment_ids = features.pop("segment_id").to_numpy()
    described = features.drop(columns=[c for c in features if c.startswith("outcome_")])
    profiles = profile_segments(described, segment_ids, value=run["params"]["value"])
    named = name_traits(profiles)
    for seg in run["segments"]:
        name, traits = named[seg["segment_id"]]
        assert seg["name"] == name
        # a person's words, not a column dump ("Low-channel horeca", "attr_x", "total_charges")
        assert "_" not in name and "attr" not in name.lower() and len(name) <= 80, name
        assert not re.search(r"\b(high|low)-\w+ \w+ ", name.lower()), name
        stats = profiles.stats.xs(seg["segment_id"], level="segment")
        backed = set(_FILLER)
        for feature, high in traits:
            assert trait_holds(feature, high, stats), (name, feature, high)
            backed.update(_words(feature_label(feature)))
            backed.update(_words(trait_words(feature, high)[0] or ""))
        for word in _words(name):
            assert word in backed, (name, word, traits)


# --- IBM telco: 7,043 customers, an id column, a churn outcome ---------------------------------


@pytest.fixture(scope="module")
def telco(shared_data, tmp_path_factory) -> tuple[str, dict]:
    path = _data_file(shared_data, "telco-customer-churn-ibm", "Telco-Customer-Churn.csv.gz")
    ws = str(tmp_path_factory.mktemp("telco") / "ws")
    result = invoke("run", "--customers", str(path), "--workspace", ws, "--json")
    assert result.exit_code == 0, result.stderr
    return ws, json.loads(result.stdout)


def test_telco_segments_on_attributes_alone(telco):
    ws, run = telco
    assert run["n_customers"] == 7043
    assert 3 <= run["metrics"]["n_segments"] <= 10
    # "customerID" is found as the id; TotalCharges (text with 11 blanks) is a number
    assert run["params"]["value"] == "attr_total_charges"
    assert {"attr_tenure", "attr_monthly_charges", "attr_contract__month_to_month"} <= set(
        run["params"]["features"]
    )
    # churn is an outcome: described, never a defining feature
    assert run["params"]["outcomes"] == ["outcome_churn"]
    assert not any("churn" in f for f in run["params"]["features"])
    segments = run["segments"]
    assert sum(s["size"] for s in segments) == 7043
    assert sum(s["value_share"] for s in segments) == pytest.approx(1.0)
    check_names(ws, run)
    # the segments differ on what matters: churn rates far apart (measured 7% to 46%)
    churn = [s["profile"]["outcome_churn"] for s in segments]
    assert max(churn) - min(churn) > 0.25
    assert min(churn) < 0.265 < max(churn)  # the base rate, 1,869 of 7,043, lies between


def test_telco_run_shows_reports_and_exports(telco, tmp_path):
    ws, run = telco
    result = invoke("runs", "show", "--workspace", ws)
    assert result.exit_code == 0, result.stderr
    assert "churn" in result.stdout  # the outcome's rate per segment is a column of the table
    result = invoke("runs", "show", "--workspace", ws, "--json")
    shown = json.loads(result.stdout)
    assert [s["name"] for s in shown["segments"]] == [s["name"] for s in run["segments"]]
    result = invoke("report", "--workspace", ws, "-o", str(tmp_path / "r.html"))
    assert result.exit_code == 0, result.stderr
    assert run["segments"][0]["name"] in (tmp_path / "r.html").read_text()
    result = invoke("export", "assignments", "--workspace", ws)
    assert result.exit_code == 0, result.stderr
    exported = pd.read_csv(io.StringIO(result.stdout))
    assert len(exported) == 7043 and exported["customer_id"].is_unique
    assert {"segment", "outcome_churn", "attr_tenure"} <= set(exported.columns)
    result = invoke("export", "profiles", "--workspace", ws, "-o", str(tmp_path / "p.parquet"))
    assert result.exit_code == 0, result.stderr
    assert len(pd.read_parquet(tmp_path / "p.parquet")) == run["metrics"]["n_segments"]


def test_predict_without_transactions_is_a_clear_error(telco):
    ws, _ = telco
    result = invoke("predict", "--workspace", ws)
    assert result.exit_code == 2
    assert "no transactions" in result.stderr and "Traceback" not in result.stderr


# --- UCI wholesale: 440 customers, no id column, six spend columns ---------------------------


@pytest.fixture(scope="module")
def wholesale_csv(shared_data) -> Path:
    return _data_file(shared_data, "wholesale-customers-uci", "Wholesale customers data.csv.gz")


def test_wholesale_customers_numbered_by_row(wholesale_csv, tmp_path):
    ws = str(tmp_path / "ws")
    spend = "Fresh,Milk,Grocery,Frozen,Detergents_Paper,Delicassen"
    # the CLI shows this warning as "warning: ..." (segmint.cli.main installs the display)
    with pytest.warns(UserWarning, match="no customer id column; its customers are numbered"):
        result = invoke(
            "run", "--customers", str(wholesale_csv), "--value", spend, "--workspace", ws, "--json"
        )
    assert result.exit_code == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["n_customers"] == 440
    assert 3 <= run["metrics"]["n_segments"] <= 10
    assert run["params"]["value"] == "customer_value"
    # Channel (1, 2) and Region (1, 2, 3) are codes: categories, not amounts
    assert {"attr_channel__1", "attr_region__3", "attr_grocery"} <= set(run["params"]["features"])
    assert "attr_channel" not in run["params"]["features"]
    check_names(ws, run)
    with Workspace(ws).connect(read_only=True) as con:
        ids = con.execute("SELECT customer_id FROM customers").fetchall()
        first = con.execute(
            f"SELECT attr_fresh, attr_grocery FROM {features_table(run['run_id'])} "
            "WHERE customer_id = '1'"
        ).fetchall()
    assert sorted(int(i) for (i,) in ids) == list(range(1, 441))
    assert first == [(12669.0, 7561.0)]  # the file's first data row
    # the value share is of total spend: the segments' shares of it add up, and differ from
    # their shares of customers
    shares = np.array([(s["share"], s["value_share"]) for s in run["segments"]])
    assert shares[:, 1].sum() == pytest.approx(1.0)
    assert np.abs(shares[:, 0] - shares[:, 1]).max() > 0.02


@pytest.mark.filterwarnings("ignore:.*numbered by row")
def test_without_a_value_column_a_segment_is_worth_its_customers(wholesale_csv, tmp_path):
    ws = str(tmp_path / "ws")
    result = invoke("run", "--customers", str(wholesale_csv), "-k", "3", "-w", ws, "--json")
    assert result.exit_code == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["params"]["value"] is None and run["metrics"]["n_segments"] == 3
    for s in run["segments"]:
        assert s["value_share"] == pytest.approx(s["share"])


# --- hostile customers files -----------------------------------------------------------------


def _write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_null_constant_and_mixed_columns_and_repeated_ids(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame(
        {
            "Customer ID": [f"k{i}" for i in range(n)],  # found as customer_id, no map needed
            "age": [
                "unknown" if i % 17 == 0 else str(a) for i, a in enumerate(rng.integers(18, 80, n))
            ],  # numbers with a word among them: a mixed-type column
            "plan": rng.choice(["gold", "silver", "basic"], n),
            "always_empty": [None] * n,
            "country_code": ["PT"] * n,
            "spend": rng.gamma(2.0, 300.0, n).round(2),
        }
    )
    frame = pd.concat([frame, frame.iloc[:3]])  # three ids given twice
    path = _write(tmp_path / "hostile.csv", frame)
    ws = str(tmp_path / "ws")
    result = invoke("run", "--customers", str(path), "--workspace", ws, "--json")
    assert result.exit_code == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["n_customers"] == n  # a repeated id is one customer
    features = run["params"]["features"]
    assert "attr_age" in features and "attr_plan__gold" in features
    assert not any(f.startswith(("attr_always_empty", "attr_country_code")) for f in features)
    assert run["params"]["value"] == "attr_spend"
    check_names(ws, run)


def test_a_file_with_only_an_id_column_is_a_clear_error(tmp_path):
    path = _write(tmp_path / "ids.csv", pd.DataFrame({"customer_id": [f"c{i}" for i in range(50)]}))
    ws = tmp_path / "ws"
    result = invoke("run", "--customers", str(path), "--workspace", str(ws))
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert "ids.csv" in message and "no customer attribute to segment on" in message
    assert "columns next to the customer id" in message
    assert not ws.exists()  # the failed command leaves nothing behind


@pytest.mark.filterwarnings("ignore:.*numbered by row")
def test_options_that_do_not_apply_to_customers_alone(tmp_path, wholesale_csv):
    ws = str(tmp_path / "ws")
    result = invoke("run", "--workspace", ws)
    assert result.exit_code == 1 and "--customers FILE" in result.stderr
    result = invoke("run", "--customers", str(wholesale_csv), "--as-of", "2024-01-01")
    assert result.exit_code == 1 and "--as-of applies to transactions" in result.stderr
    result = invoke("run", "--customers", str(wholesale_csv), "--value", "Nope", "--workspace", ws)
    assert result.exit_code == 2 and "--value Nope" in " ".join(result.stderr.split())
    assert not Path(ws).exists()


# --- attributes next to behaviour ------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_files(tmp_path_factory) -> dict[str, Path]:
    return write(generate(800, seed=5), tmp_path_factory.mktemp("data"), fmt="csv")


@pytest.mark.parametrize("use_attributes", [False, True])
def test_use_attributes_makes_them_defining_features(synthetic_files, tmp_path, use_attributes):
    ws = str(tmp_path / "ws")
    flags = ["--use-attributes"] if use_attributes else []
    result = invoke(
        "run", "--transactions", str(synthetic_files["transactions"]),
        "--customers", str(synthetic_files["customers"]), *flags, "--workspace", ws, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    run = json.loads(result.stdout)
    features = run["params"]["features"]
    assert run["params"]["use_attributes"] is use_attributes
    assert "recency_days" in features and "monetary" in features
    assert ("attr_age" in features) is use_attributes
    assert any(f.startswith("attr_signup_channel__") for f in features) is use_attributes
    with Workspace(ws).connect(read_only=True) as con:
        model = load_model(con, run["run_id"], "segmenter")
        state = LiveState.load(con)
        stored = dict(
            con.execute(
                "SELECT customer_id, segment_id FROM assignments WHERE run_id = ?",
                [run["run_id"]],
            ).fetchall()
        )
    # the live service assigns with the run's model: attributes come from the run's features
    assert model is not None
    assert (state.sources is not None) is use_attributes
    assert dict(zip(state.ids, state.seg.tolist(), strict=True)) == stored
