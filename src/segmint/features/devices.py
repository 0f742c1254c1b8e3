"""Connected devices (IoT) per customer, from telemetry in the ``events`` table: one Ibis query
for every engine.

A telemetry event (``source = 'device'``, ``type = 'telemetry'``; or a ``device`` event sent to
the service) carries ``device_id``, ``feature`` (what was used), ``minutes`` and ``fault`` in
its properties. Columns (all
``device_*``):

- ``device_count``: distinct devices;
- ``device_minutes_per_day``: minutes of use per day with any use (intensity);
- ``device_active_day_share``: days with use among the last 28 before ``as_of`` (regularity);
- ``device_features``: distinct features used;
- ``device_top_feature_share``: the most used feature's share of the minutes;
- ``device_fault_rate``: telemetry events reporting a fault;
- ``device_usage_trend``: ``ln((1 + minutes in the last 28 days) / (1 + in the 28 before))``;
- ``device_days_since``: days from the last telemetry to ``as_of``.

Customers with no telemetry have no row; the caller marks them (``has_devices``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir

from segmint.engine import Engine
from segmint.features._backend import share

#: days of the regularity and trend windows
WINDOW_DAYS = 28


def device_features(engine: Engine, events: ir.Table, as_of: datetime) -> ir.Table:
    """The ``device_*`` columns per customer (see the module), as an unexecuted query."""
    # the service's ``device`` events count as telemetry too (without minutes or faults)
    telemetry = events.filter(
        (
            ((events["source"] == "device") & (events["type"] == "telemetry"))
            | (events["type"] == "device")
        )
        & (events["ts"] < as_of)
    )
    props = telemetry["properties"]
    minutes = engine.json_text(props, "minutes").try_cast("float64").fill_null(0.0)
    fault = engine.json_text(props, "fault").lower().isin(("true", "1", "yes"))
    recent = telemetry["ts"] >= as_of - timedelta(days=WINDOW_DAYS)
    before = (telemetry["ts"] >= as_of - timedelta(days=2 * WINDOW_DAYS)) & ~recent
    telemetry = telemetry.mutate(
        device=engine.json_text(props, "device_id"),
        feature=engine.json_text(props, "feature"),
        minutes=minutes,
        fault=fault,
        day=telemetry["ts"].date(),
        recent=recent,
        before=before,
        seconds=engine.epoch_seconds(telemetry["ts"]),
    )
    by_feature = telemetry.group_by(["customer_id", "feature"]).aggregate(
        minutes=telemetry["minutes"].sum()
    )
    top = by_feature.group_by("customer_id").aggregate(
        device_features=by_feature["feature"].count(),
        top_minutes=by_feature["minutes"].max(),
    )
    last_seconds = engine.epoch_seconds(ibis.literal(as_of))
    recent_day = ibis.ifelse(telemetry["recent"], telemetry["day"], ibis.null())
    per_customer = telemetry.group_by("customer_id").aggregate(
        device_count=telemetry["device"].nunique(),
        total_minutes=telemetry["minutes"].sum(),
        days=telemetry["day"].nunique(),
        recent_days=recent_day.nunique(),
        device_fault_rate=share(telemetry["fault"]),
        recent_minutes=ibis.ifelse(telemetry["recent"], telemetry["minutes"], 0.0).sum(),
        before_minutes=ibis.ifelse(telemetry["before"], telemetry["minutes"], 0.0).sum(),
        device_days_since=(last_seconds - telemetry["seconds"].max()) / 86400.0,
    )
    joined = per_customer.inner_join(top, "customer_id")
    total = joined["total_minutes"]
    return joined.select(
        "customer_id",
        "device_count",
        device_minutes_per_day=total / joined["days"],
        device_active_day_share=joined["recent_days"].cast("float64") / WINDOW_DAYS,
        device_features=joined["device_features"],
        device_top_feature_share=ibis.ifelse(total > 0, joined["top_minutes"] / total, 0.0),
        device_fault_rate=joined["device_fault_rate"],
        device_usage_trend=(
            (1.0 + joined["recent_minutes"]) / (1.0 + joined["before_minutes"])
        ).ln(),
        device_days_since=joined["device_days_since"],
    )
