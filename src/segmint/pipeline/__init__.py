"""The one place that wires the steps: ingest, segment, predict, outputs, demo.

``cli`` and the service call these functions; each takes a workspace and plain values and
returns plain values, reporting progress through an optional callback. The model decisions
live next to the models (``segment/``, ``predict/``); this package only wires them together.
"""

from segmint.features.identity import MAX_CUSTOMERS as MAX_IDENTITY_CUSTOMERS
from segmint.io.validate import REASONS as REJECT_REASONS
from segmint.pipeline._audiences import AudienceResult, export_audience
from segmint.pipeline._campaigns import (
    create_campaign,
    list_campaigns,
    load_campaigns,
    measure_campaign,
)
from segmint.pipeline._customers import segment_customers
from segmint.pipeline._demand import demand
from segmint.pipeline._demo import demo
from segmint.pipeline._erase import erase
from segmint.pipeline._evaluate import evaluate_future_spend
from segmint.pipeline._features import (
    K_RANGE,
    N_TOP_CATEGORIES,
    clustering_columns,
    compute_features,
    feature_labels,
)
from segmint.pipeline._identities import identity_stats
from segmint.pipeline._ingest import (
    SOURCE_KINDS,
    IngestResult,
    ingest,
    ingest_source,
    ingest_sources,
)
from segmint.pipeline._lookalike import LookalikeExport, lookalike
from segmint.pipeline._markets import markets
from segmint.pipeline._options import check_method, parse_date
from segmint.pipeline._outputs import (
    EXPORTS,
    ExportResult,
    export,
    export_frame,
    run_summary,
    write_report,
)
from segmint.pipeline._playbooks import init_playbooks, load_playbooks, render_playbook
from segmint.pipeline._predict import clv_ranking, predict
from segmint.pipeline._progress import Progress
from segmint.pipeline._recommend import (
    evaluate_recommendations,
    recommend,
    recommendation_book,
)
from segmint.pipeline._run import ingest_and_segment
from segmint.pipeline._runs import (
    RunResult,
    compare_runs,
    flag_segments,
    list_runs,
    load_micro_segments,
    load_run,
)
from segmint.pipeline._scale_out import segment_on_spark
from segmint.pipeline._segment import FIT_SAMPLE, MIN_CUSTOMERS, SegmentOptions, segment

__all__ = [
    "AudienceResult",
    "create_campaign",
    "export_audience",
    "list_campaigns",
    "load_campaigns",
    "measure_campaign",
    "EXPORTS",
    "FIT_SAMPLE",
    "K_RANGE",
    "MAX_IDENTITY_CUSTOMERS",
    "MIN_CUSTOMERS",
    "N_TOP_CATEGORIES",
    "REJECT_REASONS",
    "SOURCE_KINDS",
    "IngestResult",
    "Progress",
    "RunResult",
    "SegmentOptions",
    "clustering_columns",
    "clv_ranking",
    "check_method",
    "compare_runs",
    "compute_features",
    "demand",
    "demo",
    "lookalike",
    "LookalikeExport",
    "markets",
    "evaluate_future_spend",
    "erase",
    "evaluate_recommendations",
    "export",
    "ExportResult",
    "export_frame",
    "feature_labels",
    "flag_segments",
    "identity_stats",
    "ingest",
    "ingest_and_segment",
    "init_playbooks",
    "load_playbooks",
    "render_playbook",
    "ingest_source",
    "ingest_sources",
    "list_runs",
    "load_micro_segments",
    "load_run",
    "parse_date",
    "predict",
    "recommend",
    "recommendation_book",
    "segment",
    "segment_customers",
    "segment_on_spark",
    "run_summary",
    "write_report",
]
