"""The one place that wires the steps: ingest, build features, segment, report, export.

``cli`` and (later) ``api`` call these functions; each takes a workspace and plain values and
returns plain values, reporting progress through an optional callback.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from segmint.datasets import generate
from segmint.datasets import write as write_dataset
from segmint.errors import DataValidationError, ModelError, SegmintError
from segmint.features import (
    MIN_CATEGORY_COVERAGE,
    build_features,
    default_as_of,
    derive_categories,
    feature_label,
    rfm_summary,
)
from segmint.features.training import default_churn_horizon, training_frames
from segmint.io.readers import open_source
from segmint.io.validate import REASONS as REJECT_REASONS
from segmint.io.validate import stage_customers, stage_transactions
from segmint.predict import (
    BetaGeoNBD,
    ChurnModel,
    GammaGamma,
    NextPurchaseModel,
    ParetoNBD,
    PropensityModel,
    ScoreCalibrator,
    clv,
)
from segmint.predict.evaluation import (
    calibration_bins,
    classification_report,
    lift_table,
    mean_absolute_error,
)
from segmint.report import build_summary
from segmint.report import write_report as render_report
from segmint.schema import Preset, get_preset
from segmint.segment import (
    Segmenter,
    describe_segments,
    eta_squared,
    rfm_groups_n,
    rfm_scores,
    segmenter_to_dict,
)
from segmint.store.exports import export_query
from segmint.store.ingest import (
    file_fingerprint,
    ingest_history,
    load_customers,
    load_transactions,
)
from segmint.store.runs import compare_runs as store_compare_runs
from segmint.store.runs import (
    create_run,
    data_fingerprint,
    features_table,
    get_run,
    load_assignments,
    load_model,
    load_segments,
    save_model,
    save_predictions,
    save_results,
)
from segmint.store.runs import list_runs as store_list_runs
from segmint.store.workspace import Workspace

__all__ = [
    "REJECT_REASONS",
    "IngestResult",
    "RunResult",
    "compare_runs",
    "export",
    "ingest",
    "list_runs",
    "load_run",
    "segment",
    "write_report",
]

Progress = Callable[[str, int, int], None]


def _noop(step: str, done: int, total: int) -> None:
    return None


@dataclass
class IngestResult:
    """What one ingested file contributed."""

    kind: str
    source: str
    rows_read: int
    rows_loaded: int
    rows_duplicate: int
    rejected: dict[str, int]
    examples: dict[str, str]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def resolve_preset(
    preset: str | Preset = "generic", mapping: dict[str, str] | None = None
) -> Preset:
    """The preset by name, with ``--map field=column`` overrides applied."""
    resolved = get_preset(preset) if isinstance(preset, str) else preset
    return resolved.with_overrides(mapping) if mapping else resolved


def ingest(
    workspace: Workspace,
    transactions: str | Path,
    *,
    customers: str | Path | None = None,
    preset: str | Preset = "generic",
    mapping: dict[str, str] | None = None,
    encoding: str = "utf-8",
    date_format: str | None = None,
    progress: Progress = _noop,
) -> list[IngestResult]:
    """Read, validate and store a transactions file (and optionally a customers file).

    Everything happens in one transaction: on any error the workspace is left as it was (and a
    workspace created by this call is removed).
    """
    layout = resolve_preset(preset, mapping)
    results = []
    with workspace.transaction(create=True) as con:
        progress("read transactions", 0, 2)
        columns = open_source(con, transactions, "_source_tx", encoding=encoding)
        report = stage_transactions(
            con, "_source_tx", columns, layout, source=str(transactions), date_format=date_format
        )
        progress("store transactions", 1, 2)
        added = load_transactions(con, report, fingerprint=file_fingerprint(transactions))
        results.append(
            IngestResult(
                "transactions",
                str(transactions),
                report.rows_read,
                added,
                report.rows_usable - added,
                report.rejected,
                report.examples,
            )
        )
        if customers is not None:
            columns = open_source(con, customers, "_source_cu", encoding=encoding)
            creport = stage_customers(con, "_source_cu", columns, layout, source=str(customers))
            given = load_customers(con, creport, fingerprint=file_fingerprint(customers))
            results.append(
                IngestResult(
                    "customers",
                    str(customers),
                    creport.rows_read,
                    given,
                    0,
                    creport.rejected,
                    creport.examples,
                )
            )
        progress("store transactions", 2, 2)
    return results


# --------------------------------------------------------------------------- segmentation


@dataclass
class RunResult:
    """A stored segmentation run, as the CLI and API show it."""

    run_id: int
    as_of: datetime
    n_customers: int
    metrics: dict
    params: dict
    segments: pd.DataFrame
    report_path: Path | None = None

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat(),
            "n_customers": self.n_customers,
            "params": self.params,
            "metrics": self.metrics,
            "segments": json.loads(self.segments.to_json(orient="records")),
            "report": str(self.report_path) if self.report_path else None,
        }


def parse_date(text: str) -> datetime:
    """A ``YYYY-MM-DD`` (or ISO datetime) string from the command line as a UTC datetime."""
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None)
    except ValueError:
        raise DataValidationError(f"--as-of {text!r}: expected a date like 2024-06-30") from None


def clustering_columns(columns: list[str]) -> list[str]:
    """The feature columns segments are found on.

    Behaviour only: customer attributes describe segments (they appear in profiles) but do not
    define them, and ``n_products`` duplicates what ``frequency`` and ``basket_size`` carry.
    """
    skip = {"customer_id", "n_products"}
    return [c for c in columns if c not in skip and not c.startswith("attr_")]


#: numbers of segments tried when none is given: two segments are a value split rather than a
#: segmentation (silhouette favours k=2 on real customer data, whose clusters overlap), and more
#: than ten are too many for a marketer to act on
K_RANGE = (3, 10)

#: category shares used as features; 8 rather than 6 so that a small but distinctive category
#: (the planted seasonal gift buyers' "christmas") is not left out by the big ones
N_TOP_CATEGORIES = 8


def compute_features(
    con: duckdb.DuckDBPyConnection, as_of: datetime | None = None
) -> tuple[pd.DataFrame, datetime]:
    """Features per customer as of a date, deriving and storing product categories if needed."""
    as_of = as_of or default_as_of(con)
    (coverage,) = con.execute(
        "SELECT coalesce(avg((category IS NOT NULL)::INT), 0) FROM transactions"
    ).fetchall()[0]
    map_table = None
    if coverage < MIN_CATEGORY_COVERAGE:
        (mapped,) = con.execute("SELECT count(*) FROM product_categories").fetchall()[0]
        if mapped == 0:
            categories = derive_categories(con)
            con.register("_derived", categories)
            con.execute("INSERT INTO product_categories SELECT product_id, category FROM _derived")
            con.unregister("_derived")
        map_table = "product_categories"
    table = build_features(
        con, as_of=as_of, n_top_categories=N_TOP_CATEGORIES, category_map_table=map_table
    )
    return table.to_pandas().set_index("customer_id"), as_of


def feature_labels(columns) -> dict[str, str]:
    """Plain-language label of every feature column, for rules, names and reports."""
    return {c: feature_label(c) for c in columns if c != "customer_id"}


def _map_coordinates(Z: np.ndarray, random_state: int) -> np.ndarray:
    # a linear 2-D projection: fast on a million customers and faithful to cluster separation
    return PCA(n_components=2, random_state=random_state).fit_transform(Z).astype("float32")


def segment(
    workspace: Workspace,
    *,
    as_of: datetime | None = None,
    n_segments: int | None = None,
    k_range: tuple[int, int] = K_RANGE,
    method: str = "kmeans",
    random_state: int = 0,
    micro_segments: bool = True,
    report_path: str | Path | None = None,
    write_html: bool = True,
    progress: Progress = _noop,
) -> RunResult:
    """Compute features, find segments, name and explain them, store the run and its report."""
    with workspace.connect() as con:
        progress("features", 0, 1)
        features, as_of = compute_features(con, as_of)
        progress("features", 1, 1)
        fingerprint = data_fingerprint(con)
    if len(features) < 10:
        raise DataValidationError(
            f"only {len(features)} customers have purchases before {as_of:%Y-%m-%d}; "
            "segmentation needs at least 10"
        )
    columns = clustering_columns(list(features.columns))
    model = Segmenter(
        method=method,
        n_segments=n_segments,
        k_range=k_range,
        micro_segments=micro_segments,
        random_state=random_state,
        callback=progress,
    ).fit(features[columns])
    labels = model.labels_
    progress("explain", 0, 2)
    descriptions = describe_segments(
        features,
        labels,
        value="monetary",
        labels_map=feature_labels(features.columns),
        random_state=random_state,
    )
    segments = pd.DataFrame([d.to_dict() for d in descriptions])
    rfm = rfm_scores(features["recency_days"], features["frequency"], features["monetary"])
    progress("explain", 1, 2)
    coords = _map_coordinates(model.transform(features[columns]), random_state)
    assignments = pd.DataFrame(
        {
            "customer_id": features.index.astype(str),
            "segment_id": labels.astype("int32"),
            "micro_segment_id": model.micro_labels_.astype(str),
            "confidence": model.confidence(features[columns]),
            "r_score": rfm["r_score"].to_numpy(),
            "f_score": rfm["f_score"].to_numpy(),
            "m_score": rfm["m_score"].to_numpy(),
            "rfm_group": rfm["rfm_group"].to_numpy(),
            "map_x": coords[:, 0],
            "map_y": coords[:, 1],
        }
    )
    progress("explain", 2, 2)
    chosen = model.selection_.loc[model.selection_["chosen"]].iloc[0]
    params = {
        "method": method,
        "n_segments": n_segments,
        "k_range": list(k_range),
        "random_state": random_state,
        "micro_segments": micro_segments,
        "features": columns,
    }
    metrics = {
        "n_customers": int(len(features)),
        "n_segments": int(model.n_segments_),
        "method": model.method_,
        "selection_criterion": model.selection_reason_,
        "silhouette": float(chosen["silhouette"]),
        "stability_ari": float(model.stability_),
        "selection": json.loads(model.selection_.to_json(orient="records")),
        "rfm_groups": int(rfm["rfm_group"].nunique()),
    }
    progress("store", 0, 1)
    with workspace.transaction() as con:
        run_id = create_run(
            con,
            kind="segmentation",
            as_of=as_of,
            params=params,
            metrics=metrics,
            fingerprint=fingerprint,
        )
        save_results(
            con,
            run_id,
            segments=segments,
            assignments=assignments,
            features=pa.Table.from_pandas(features.reset_index(), preserve_index=False),
        )
        # the fitted model as JSON: the service assigns live customers with exactly this model
        save_model(con, run_id, "segmenter", segmenter_to_dict(model))
    progress("store", 1, 1)
    result = RunResult(run_id, as_of, int(len(features)), metrics, params, segments)
    if write_html:
        progress("report", 0, 1)
        result.report_path = write_report(workspace, run_id=run_id, path=report_path)
        progress("report", 1, 1)
    return result


def flag_segments(segments: pd.DataFrame) -> pd.DataFrame:
    """Mark "high value" segments (mean CLV at least 1.5x the customer-weighted mean) and
    "high value at risk" ones (also a mean churn risk above the average)."""
    if "clv" not in segments.columns:
        return segments
    weights = segments["size"] / segments["size"].sum()
    mean_clv = float((segments["clv"] * weights).sum())
    mean_risk = float((segments["churn_risk"] * weights).sum())
    high = segments["clv"] >= 1.5 * mean_clv
    risky = segments["churn_risk"] > mean_risk
    flag = np.where(high & risky, "high value at risk", np.where(high, "high value", ""))
    return segments.assign(value_flag=flag)


def load_run(workspace: Workspace, run_id: int | None = None) -> RunResult:
    """A stored run with its segments (and their value flags once predictions exist)."""
    with workspace.connect(read_only=True) as con:
        run = get_run(con, run_id)
        segments = flag_segments(load_segments(con, run["run_id"]))
    return RunResult(
        run["run_id"],
        datetime.fromisoformat(run["as_of"]),
        run["metrics"]["n_customers"],
        run["metrics"],
        run["params"],
        segments,
    )


def list_runs(workspace: Workspace) -> list[dict]:
    """Every run in the workspace, oldest first."""
    with workspace.connect(read_only=True) as con:
        return store_list_runs(con)


def compare_runs(workspace: Workspace, run_a: int, run_b: int) -> pd.DataFrame:
    """Customers moving between segments from run A to run B (see ``store.runs.compare_runs``)."""
    with workspace.connect(read_only=True) as con:
        return store_compare_runs(con, run_a, run_b)


# --------------------------------------------------------------------------- outputs


def write_report(
    workspace: Workspace, *, run_id: int | None = None, path: str | Path | None = None
) -> Path:
    """Write a run's self-contained HTML report; return its path."""
    with workspace.connect(read_only=True) as con:
        run = get_run(con, run_id)
        segments = load_segments(con, run["run_id"])
        assignments = load_assignments(con, run["run_id"])
        ingests = ingest_history(con)
        predictions = load_model(con, run["run_id"], "predictions")
        table = features_table(run["run_id"])
        columns = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
    summary = build_summary(
        run=run,
        segments=flag_segments(segments),
        assignments=assignments,
        ingest=ingests,
        feature_labels=feature_labels(columns),
        predictions=predictions,
    )
    target = Path(path) if path else workspace.path / "reports" / f"run-{run['run_id']}.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    return render_report(summary, target)


EXPORTS = {
    "assignments": (
        """SELECT a.customer_id, a.segment_id, s.name AS segment, a.micro_segment_id,
                  a.confidence, a.r_score, a.f_score, a.m_score, a.rfm_group,
                  r.as_of, p.* EXCLUDE (run_id, customer_id), f.* EXCLUDE (customer_id)
           FROM assignments a
           JOIN segments s USING (run_id, segment_id)
           JOIN runs r USING (run_id)
           JOIN {features} f USING (customer_id)
           LEFT JOIN predictions p USING (run_id, customer_id)
           WHERE a.run_id = ? ORDER BY a.customer_id"""
    ),
    "profiles": (
        """SELECT s.segment_id, s.name, s.rule, s.size, s.value_share, r.as_of,
                  s.profile
           FROM segments s JOIN runs r USING (run_id)
           WHERE s.run_id = ? ORDER BY s.segment_id"""
    ),
}


def export(
    workspace: Workspace,
    what: str,
    path: str | Path | None,
    *,
    fmt: str = "csv",
    run_id: int | None = None,
) -> Path | None:
    """Export a run's assignments or segment profiles; ``path=None`` writes CSV to stdout."""
    if what not in EXPORTS:
        raise SegmintError(f"unknown export {what!r}; expected one of {', '.join(EXPORTS)}")
    with workspace.connect(read_only=True) as con:
        run = get_run(con, run_id)
        query = EXPORTS[what].format(features=features_table(run["run_id"]))
        if path is None:
            con.execute(query, [run["run_id"]]).df().to_csv(sys.stdout, index=False)
            return None
        return export_query(con, query, [run["run_id"]], path, fmt)


# --------------------------------------------------------------------------- demo


def demo(
    workspace: Workspace,
    *,
    n_customers: int = 5000,
    seed: int = 0,
    progress: Progress = _noop,
) -> RunResult:
    """Generate synthetic customers with planted segments, then ingest, segment and report.

    The generated files are kept in ``WORKSPACE/demo-data`` so the same commands can be tried by
    hand; the agreement between found and planted segments is added to the run's metrics.
    """
    progress("generate data", 0, 1)
    data = generate(n_customers, seed=seed)
    files = write_dataset(data, workspace.path / "demo-data", fmt="parquet")
    progress("generate data", 1, 1)
    ingest(
        workspace,
        files["transactions"],
        customers=files["customers"],
        preset="generic",
        progress=progress,
    )
    result = segment(
        workspace, as_of=data.as_of, random_state=seed, progress=progress, write_html=False
    )
    with workspace.connect(read_only=True) as con:
        found = con.execute(
            "SELECT customer_id, segment_id FROM assignments WHERE run_id = ?", [result.run_id]
        ).df()
    planted = data.labels.to_pandas().merge(found, on="customer_id")
    ari = float(adjusted_rand_score(planted["segment"], planted["segment_id"]))
    result.metrics["planted_ari"] = ari
    with workspace.transaction() as con:
        con.execute(
            "UPDATE runs SET metrics = ? WHERE run_id = ?",
            [json.dumps(result.metrics, default=str), result.run_id],
        )
    progress("report", 0, 1)
    result.report_path = write_report(workspace, run_id=result.run_id)
    progress("report", 1, 1)
    return result


# --------------------------------------------------------------------------- evaluation


def evaluate_future_spend(
    workspace: Workspace,
    *,
    cutoff: datetime,
    horizon_days: int = 90,
    n_segments: int | None = None,
    k_range: tuple[int, int] = K_RANGE,
    method: str = "kmeans",
    random_state: int = 0,
) -> dict:
    """Do the segments found on data up to ``cutoff`` explain the spend that followed?

    Segments customers on the transactions before ``cutoff``, then measures how much of each
    customer's net spend in ``[cutoff, cutoff + horizon_days)`` the segments explain (eta²),
    against the classic RFM groups merged to the same number of groups, and the full set of
    named RFM groups for reference. Held-out time: nothing after the cut-off is used to segment.
    A few very large buyers dominate raw spend, so eta² is also given on ``log1p`` of the
    spend (clipped at 0 first, as returns can make it negative).
    """
    with workspace.connect() as con:
        features, as_of = compute_features(con, cutoff)
        future = con.execute(
            """SELECT customer_id, sum(amount) AS spend FROM transactions
               WHERE ts >= ? AND ts < ? + to_days(CAST(? AS INTEGER))
               GROUP BY customer_id""",
            [as_of, as_of, horizon_days],
        ).df()
    spend = future.set_index("customer_id")["spend"].reindex(features.index).fillna(0.0)
    columns = clustering_columns(list(features.columns))
    model = Segmenter(
        method=method, n_segments=n_segments, k_range=k_range, random_state=random_state
    ).fit(features[columns])
    k = int(model.n_segments_)
    rfm_k = rfm_groups_n(features["recency_days"], features["frequency"], features["monetary"], k)
    named = rfm_scores(features["recency_days"], features["frequency"], features["monetary"])
    log_spend = np.log1p(spend.clip(lower=0.0))
    return {
        "cutoff": as_of.isoformat(),
        "horizon_days": horizon_days,
        "n_customers": int(len(features)),
        "n_groups": k,
        "ml_eta2": eta_squared(model.labels_, spend),
        "rfm_eta2": eta_squared(rfm_k.to_numpy(), spend),
        "rfm_named_groups": int(named["rfm_group"].nunique()),
        "rfm_named_eta2": eta_squared(named["rfm_group"].to_numpy(), spend),
        "ml_eta2_log": eta_squared(model.labels_, log_spend),
        "rfm_eta2_log": eta_squared(rfm_k.to_numpy(), log_spend),
        "rfm_named_eta2_log": eta_squared(named["rfm_group"].to_numpy(), log_spend),
        "future_spend_total": float(spend.sum()),
    }


# --------------------------------------------------------------------------- predictions

#: lifetime value horizon and discounting: 12 months at 1% a month
CLV_MONTHS = 12
MONTHLY_DISCOUNT = 0.01
WEEKS_PER_MONTH = 52.1775 / 12
#: a customer is "high value" in the top fifth of CLV and "at risk" above this churn risk
HIGH_VALUE_QUANTILE = 0.8
AT_RISK = 0.5


def _fit_btyd(summary: pd.DataFrame) -> tuple[object, str]:
    """BG/NBD, or Pareto/NBD where BG/NBD's dropout cannot be identified (short histories).

    BG/NBD can also converge to enormous a and b (a dropout rate it cannot pin down) where its
    hypergeometric predictions overflow; that too falls back to Pareto/NBD, with a warning.
    """
    f, r, t = summary["frequency"], summary["recency"], summary["T"]
    try:
        model = BetaGeoNBD().fit(f, r, t)
    except ModelError:
        return ParetoNBD().fit(f, r, t), "Pareto/NBD"
    with np.errstate(all="ignore"):
        usable = np.isfinite(model.expected_purchases(52.0, f, r, t)).all()
    if usable:
        return model, "BG/NBD"
    warnings.warn(
        f"BG/NBD dropout parameters are not identified by this data (a = {model.params_['a']:.3g}, "
        f"b = {model.params_['b']:.3g}) and its predictions overflow; using Pareto/NBD",
        RuntimeWarning,
        stacklevel=2,
    )
    return ParetoNBD().fit(f, r, t), "Pareto/NBD"


def _btyd_scores(con: duckdb.DuckDBPyConnection, as_of: datetime) -> tuple[pd.DataFrame, dict]:
    calibration_end = as_of - timedelta(days=1)
    summary = rfm_summary(con, calibration_end=calibration_end).to_pandas()
    model, name = _fit_btyd(summary)
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    spend = GammaGamma().fit(repeat["frequency"], repeat["monetary_value"])
    f, r, t, m = (summary[c].to_numpy() for c in ("frequency", "recency", "T", "monetary_value"))
    value = clv(
        model,
        spend,
        f,
        r,
        t,
        np.where(f > 0, m, 0.0),
        horizon=CLV_MONTHS,
        time_unit_per_period=WEEKS_PER_MONTH,
        discount_rate=MONTHLY_DISCOUNT,
        interval=0.9,
    )
    scores = pd.DataFrame(
        {
            "clv": value.clv,
            "clv_lower": value.lower,
            "clv_upper": value.upper,
            "p_alive": model.p_alive(f, r, t),
            "expected_purchases": model.expected_purchases(CLV_MONTHS * WEEKS_PER_MONTH, f, r, t),
        },
        index=summary["customer_id"],
    )
    info = {
        "purchase_model": name,
        "purchase_params": model.params_,
        "purchase_standard_errors": model.standard_errors_,
        "purchase_log_likelihood": model.log_likelihood_,
        "spend_params": spend.params_,
        "clv_months": CLV_MONTHS,
        "monthly_discount": MONTHLY_DISCOUNT,
        "customers": int(len(summary)),
    }
    return scores, info


def _btyd_holdout(con: duckdb.DuckDBPyConnection, as_of: datetime, holdout_days: int) -> dict:
    """Fit on the data before ``as_of - holdout_days``; compare repeat purchases after it."""
    calibration_end = as_of - timedelta(days=holdout_days + 1)
    summary = rfm_summary(
        con, calibration_end=calibration_end, holdout_end=as_of - timedelta(days=1)
    ).to_pandas()
    model, name = _fit_btyd(summary)
    f, r, t = summary["frequency"], summary["recency"], summary["T"]
    predicted = model.expected_purchases(summary["duration_holdout"].to_numpy(), f, r, t)
    actual = summary["frequency_holdout"].to_numpy()
    bucket = np.minimum(f.to_numpy(), 7)
    table = (
        pd.DataFrame({"frequency": bucket, "actual": actual, "predicted": predicted})
        .groupby("frequency")
        .agg(
            customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean")
        )
        .reset_index()
    )
    return {
        "model": name,
        "calibration_end": calibration_end.date().isoformat(),
        "holdout_days": holdout_days,
        "customers": int(len(summary)),
        "actual_repeat_purchases": float(actual.sum()),
        "predicted_repeat_purchases": float(predicted.sum()),
        "error_pct": float(100 * (predicted.sum() - actual.sum()) / max(actual.sum(), 1)),
        "conditional_expectations": table.to_dict(orient="records"),
    }


#: training cut-offs are a month apart (their label windows may overlap; that is fine for
#: training) and each needs this much history before it
CUTOFF_STEP_DAYS = 30
MIN_HISTORY_DAYS = 60
MAX_TRAINING_CUTOFFS = 6


def _training_cutoffs(as_of: datetime, horizon: int, first_ts: datetime) -> tuple[list, datetime]:
    """Cut-offs to train on and the held-out test cut-off, all with fully observed labels.

    The test cut-off is ``as_of - horizon`` (its labels end at ``as_of``); training cut-offs end
    one horizon before it, so no training label looks into the test period.
    """
    test_cut = as_of - timedelta(days=horizon)
    last_train = test_cut - timedelta(days=horizon)
    earliest = first_ts + timedelta(days=MIN_HISTORY_DAYS)
    cuts = [last_train - timedelta(days=CUTOFF_STEP_DAYS * k) for k in range(MAX_TRAINING_CUTOFFS)]
    cuts = sorted(c for c in cuts if c >= earliest)
    if len(cuts) < 2:
        raise DataValidationError(
            f"the data ({first_ts:%Y-%m-%d} to {as_of:%Y-%m-%d}) is too short to train and test "
            f"a {horizon}-day churn model on held-out time; pass a shorter --horizon-days"
        )
    return cuts, test_cut


def _xy(frame: pd.DataFrame, labels: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    drop = ["cutoff", "customer_id", *labels]
    extra = [c for c in ("purchase", "days_to_next", "next_observed", "churn") if c in frame]
    return frame.drop(columns=[*drop, *[c for c in extra if c not in drop]]), frame[labels]


def _dropout_score(con, cutoff: datetime, customer_ids: pd.Series) -> np.ndarray:
    """1 - P(alive) as of ``cutoff`` from a BTYD model fitted on the data before it."""
    summary = rfm_summary(con, calibration_end=cutoff - timedelta(days=1)).to_pandas()
    model, _ = _fit_btyd(summary)
    alive = model.p_alive(summary["frequency"], summary["recency"], summary["T"])
    score = pd.Series(1.0 - alive, index=summary["customer_id"])
    return score.reindex(customer_ids.to_numpy()).to_numpy()


def _churn(con, frames: pd.DataFrame, as_of, horizon, train_cuts, test_cut, seed: int):
    """Churn model trained on earlier cut-offs, evaluated on the latest labelled one."""
    cut = frames["cutoff"]
    X, y = _xy(frames, ["purchase"])
    y = 1 - y["purchase"].to_numpy()  # churn: no purchase within the horizon
    train, test, now = (
        cut.isin(train_cuts).to_numpy(),
        (cut == test_cut).to_numpy(),
        (cut == as_of).to_numpy(),
    )
    held_out = ChurnModel(random_state=seed).fit(X[train], y[train], groups=cut[train])
    p_model = held_out.predict_proba(X[test])[:, 1]
    recency = X["recency_days"].to_numpy()
    calibration_rows = (cut == train_cuts[-1]).to_numpy()
    recency_cal = ScoreCalibrator().fit(recency[calibration_rows], y[calibration_rows])
    dropout = {
        cut_: _dropout_score(con, cut_, frames.loc[(cut == cut_).to_numpy(), "customer_id"])
        for cut_ in (train_cuts[-1], test_cut)
    }
    dropout_cal = ScoreCalibrator().fit(dropout[train_cuts[-1]], y[calibration_rows])
    evaluation = classification_report(
        y[test],
        {
            "churn model": p_model,
            "recency (calibrated)": recency_cal.predict_proba(recency[test]),
            "1 - P(alive) (calibrated)": dropout_cal.predict_proba(dropout[test_cut]),
        },
    )
    evaluation.update(
        horizon_days=horizon,
        test_cutoff=test_cut.date().isoformat(),
        train_cutoffs=[c.date().isoformat() for c in train_cuts],
        calibration=calibration_bins(y[test], p_model),
        lift=lift_table(y[test], p_model),
    )
    final = ChurnModel(random_state=seed).fit(
        X[train | test], y[train | test], groups=cut[train | test]
    )
    X_now = X[now].set_index(frames.loc[now, "customer_id"])
    risk = final.predict_proba(X_now)[:, 1]
    reasons = final.reasons(X_now, top=3)
    parts = reasons.fillna("").astype(str)
    reason_text = parts.iloc[:, 0]
    for column in parts.columns[1:]:
        reason_text = reason_text.str.cat(parts[column], sep="; ")
    reason_text = reason_text.str.replace(r"(; )+$", "", regex=True)
    scores = pd.DataFrame(
        {"churn_risk": risk, "churn_reasons": reason_text.to_numpy()}, index=X_now.index
    )
    return scores, evaluation


def _propensity(frames: pd.DataFrame, as_of: datetime, seed: int) -> pd.DataFrame:
    """Probability of buying in each top category within the horizon; the likeliest one."""
    labels = [c for c in frames.columns if c.startswith("buy_")]
    cut = frames["cutoff"]
    X, Y = _xy(frames, labels)
    known, now = (cut != as_of).to_numpy(), (cut == as_of).to_numpy()
    model = PropensityModel(random_state=seed).fit(X[known], Y[known], groups=cut[known])
    proba = model.predict_proba(X[now].set_index(frames.loc[now, "customer_id"]))
    best = proba.idxmax(axis=1)
    return pd.DataFrame(
        {
            "top_category": best.str.removeprefix("buy_").to_numpy(),
            "top_category_propensity": proba.max(axis=1).to_numpy(),
        },
        index=proba.index,
    )


def _next_purchase(frames: pd.DataFrame, as_of, horizon: int, test_cut, seed: int):
    """Days to the next purchase (capped at the horizon), checked on the test cut-off."""
    cut = frames["cutoff"]
    X, y = _xy(frames, ["days_to_next"])
    known, now = (cut != as_of).to_numpy(), (cut == as_of).to_numpy()
    test = (cut == test_cut).to_numpy()
    train = known & ~test
    held_out = NextPurchaseModel(horizon_days=horizon, random_state=seed).fit(
        X[train], y["days_to_next"][train]
    )
    mae = mean_absolute_error(y["days_to_next"][test], held_out.predict(X[test]))
    baseline = mean_absolute_error(
        y["days_to_next"][test],
        np.full(int(test.sum()), float(np.median(y["days_to_next"][train]))),
    )
    final = NextPurchaseModel(horizon_days=horizon, random_state=seed).fit(
        X[known], y["days_to_next"][known]
    )
    dates = final.predict_date(X[now], as_of)
    scores = pd.DataFrame(
        {"next_purchase": pd.to_datetime(dates).date}, index=frames.loc[now, "customer_id"]
    )
    return scores, {
        "mae_days": mae,
        "median_baseline_mae_days": baseline,
        "test_cutoff": test_cut.date().isoformat(),
        "horizon_days": horizon,
    }


def predict(
    workspace: Workspace,
    *,
    run_id: int | None = None,
    horizon_days: int | None = None,
    random_state: int = 0,
    progress: Progress = _noop,
) -> dict:
    """Score every customer of a run: CLV, P(alive), churn risk with reasons, next purchase,
    category propensity; evaluate each model on held-out time; store scores and evaluation.

    Returns the evaluation dict (also stored with the run and shown in its report).
    """
    steps = 5
    # scikit-learn's boosted trees use OpenMP; on a busy 2-core machine its threads fight and
    # a fit slows 5x (221 s vs 43 s measured for 2,000 customers), so the models run on one
    with workspace.connect() as con, threadpool_limits(1, user_api="openmp"):
        run = get_run(con, run_id)
        run_id = run["run_id"]
        as_of = datetime.fromisoformat(run["as_of"])
        (first_ts,) = con.execute("SELECT min(ts) FROM transactions").fetchall()[0]
        horizon = int(horizon_days or default_churn_horizon(con))
        progress("lifetime value", 0, steps)
        btyd, btyd_info = _btyd_scores(con, as_of)
        btyd_info["holdout"] = _btyd_holdout(con, as_of, horizon)
        progress("training data", 1, steps)
        train_cuts, test_cut = _training_cutoffs(as_of, horizon, first_ts)
        cutoffs = [*train_cuts, test_cut, as_of]
        purchases, categories = (
            training_frames(
                con,
                cutoffs=cutoffs,
                horizon_days=horizon,
                label=label,
                feature_top_categories=N_TOP_CATEGORIES,
            ).to_pandas()
            for label in ("purchase", "category")
        )
        progress("churn", 2, steps)
        churn, churn_eval = _churn(
            con, purchases, as_of, horizon, train_cuts, test_cut, random_state
        )
        propensity = _propensity(categories, as_of, random_state)
        progress("next purchase", 3, steps)
        nxt, next_eval = _next_purchase(purchases, as_of, horizon, test_cut, random_state)
        progress("store", 4, steps)
        customers = con.execute(
            "SELECT customer_id FROM assignments WHERE run_id = ?", [run_id]
        ).df()["customer_id"]
        scores = pd.concat([btyd, churn, propensity, nxt], axis=1).reindex(customers)
        scores["high_value"] = scores["clv"] >= scores["clv"].quantile(HIGH_VALUE_QUANTILE)
        scores["at_risk"] = scores["churn_risk"] >= AT_RISK
        evaluation = {
            "as_of": as_of.isoformat(),
            "lifetime_value": btyd_info,
            "churn": churn_eval,
            "next_purchase": next_eval,
            "high_value_at_risk": int((scores["high_value"] & scores["at_risk"]).sum()),
        }
        con.execute("BEGIN TRANSACTION")
        try:
            save_predictions(con, run_id, scores.rename_axis("customer_id").reset_index())
            save_model(con, run_id, "predictions", evaluation)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        progress("store", 5, steps)
    return evaluation
