"""Per-customer features computed in the engine (Ibis over DuckDB), by source.

The main entry point is :func:`build_features`; :func:`derive_categories` supplies product
categories when the data has none, and :data:`FEATURE_LABELS` / :func:`feature_label` turn
column names into words for reports.
"""

from segmint.features.attributes import (
    attribute_column,
    attribute_features,
    attribute_groups,
    customer_attributes,
    customer_countries,
    is_outcome,
    money_columns,
)
from segmint.features.categories import derive_categories, stock_code_family
from segmint.features.labels import FEATURE_LABELS, feature_label, slugify
from segmint.features.rfm_summary import TIME_UNIT_DAYS, rfm_summary, rfm_summary_query
from segmint.features.sources import (
    SOURCE_WEIGHT,
    SOURCES,
    SourceFeatures,
    source_features,
    source_groups,
    source_weights,
)
from segmint.features.training import (
    default_churn_horizon,
    default_cutoffs,
    training_frames,
)
from segmint.features.transactions import (
    CORE_FEATURES,
    MIN_CATEGORY_COVERAGE,
    MONTH_DAYS,
    build_features,
    category_columns,
    default_as_of,
    feature_query,
    to_naive_utc,
    top_categories,
)

__all__ = [
    "CORE_FEATURES",
    "MONTH_DAYS",
    "FEATURE_LABELS",
    "MIN_CATEGORY_COVERAGE",
    "SOURCES",
    "SOURCE_WEIGHT",
    "SourceFeatures",
    "attribute_column",
    "attribute_features",
    "attribute_groups",
    "build_features",
    "category_columns",
    "customer_attributes",
    "customer_countries",
    "default_as_of",
    "derive_categories",
    "feature_label",
    "feature_query",
    "is_outcome",
    "money_columns",
    "slugify",
    "source_features",
    "source_groups",
    "source_weights",
    "stock_code_family",
    "to_naive_utc",
    "TIME_UNIT_DAYS",
    "default_churn_horizon",
    "default_cutoffs",
    "rfm_summary",
    "rfm_summary_query",
    "top_categories",
    "training_frames",
]
