"""Social engagement per customer, from ``events`` with ``source = 'social'``: one Ibis query
for every engine.

Types ``like``, ``share``, ``mention`` and ``review`` (a review may carry ``rating`` 1-5; a
mention or review its ``text``, whose sentiment comes from :mod:`segmint.text` as one row per
event, ``(event_id, sentiment)``, joined here). Columns (all ``social_*``):

- ``social_likes``, ``social_shares``, ``social_mentions``, ``social_reviews``: counts;
- ``social_rating``: mean review rating (3, the middle, without a rated review);
- ``social_sentiment``: mean sentiment of the customer's texts (0 without any);
- ``social_days_since``: days from the last engagement to ``as_of``.

Customers with no social engagement have no row; the caller marks them (``has_social``).
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

from segmint.engine import Engine

SOCIAL_TYPES = ("like", "share", "mention", "review")


def social_features(
    engine: Engine, events: ir.Table, as_of: datetime, annotations: ir.Table | None = None
) -> ir.Table:
    """The ``social_*`` columns per customer (see the module), as an unexecuted query."""
    social = events.filter(
        (events["source"] == "social") & events["type"].isin(SOCIAL_TYPES) & (events["ts"] < as_of)
    )
    rating = engine.json_text(social["properties"], "rating").try_cast("float64")
    social = social.mutate(rating=rating, seconds=engine.epoch_seconds(social["ts"]))
    if annotations is not None:
        social = social.left_join(annotations, social["event_id"] == annotations["event_id"])
    else:
        social = social.mutate(sentiment=ibis.null("float64"))
    last_seconds = engine.epoch_seconds(ibis.literal(as_of))
    counts = {f"social_{t}s": (social["type"] == t).cast("int64").sum() for t in SOCIAL_TYPES}
    per_customer = social.group_by("customer_id").aggregate(
        **counts,
        social_rating=social["rating"].mean(),
        social_sentiment=social["sentiment"].mean(),
        social_days_since=(last_seconds - social["seconds"].max()) / 86400.0,
    )
    return per_customer.mutate(
        social_rating=per_customer["social_rating"].fill_null(3.0),
        social_sentiment=per_customer["social_sentiment"].fill_null(0.0),
    )
