"""Web and app behaviour per customer, from the ``events`` table: one Ibis query for every engine.

Events are grouped into sessions, a new one after 30 minutes without an event. The columns
(all ``web_*``) describe how often and how a customer visits, what they look at against what
they buy, and when and on what device:

- ``web_sessions``: sessions before ``as_of``;
- ``web_pages_per_session``, ``web_session_minutes``: events and minutes (first to last
  event) per session, on average;
- ``web_product_views``, ``web_cart_adds``: product views and cart adds per session;
- ``web_cart_abandonment``: of the sessions with a cart add, the share without a checkout;
- ``web_search_share``: sessions with a search;
- ``web_conversion``: sessions with a checkout (view-to-purchase conversion);
- ``web_app_share``: events from the app (``source = 'app'``) rather than the web;
- ``web_mobile_share``, ``web_desktop_share``: events on each device (``properties.device``);
- ``web_paid_share``, ``web_email_share``, ``web_social_share``, ``web_search_channel_share``:
  sessions whose first event came from that marketing channel (``properties.channel``);
- ``web_night_share`` (21:00-05:00 UTC), ``web_morning_share`` (05:00-12:00),
  ``web_weekend_share``: events at those times;
- ``web_unbought_view_share``: product views in categories the customer never bought before
  ``as_of`` (interest that purchases do not show);
- ``web_days_since_visit``: days from the last event to ``as_of``.

Customers with no web or app event have no row; the caller marks them (``has_web``).
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

from segmint.engine import Engine
from segmint.features._backend import share

#: a session ends after this long without an event (the usual web-analytics convention)
SESSION_GAP_SECONDS = 30 * 60

#: event types of the clickstream (other events: device telemetry, social, identify);
#: ``app_view`` is the service's page view in an app
WEB_TYPES = ("page_view", "app_view", "product_view", "add_to_cart", "search", "checkout")

_CHANNELS = {"paid": "paid", "email": "email", "social": "social", "search_channel": "search"}


def sessionised(
    engine: Engine, events: ir.Table, gap_seconds: float, key: str = "customer_id"
) -> ir.Table:
    """``events`` with ``session`` (1, 2, ... per ``key`` in time order), ``starts`` (1 on a
    session's first event, else 0) and ``seconds``: a new session starts after
    ``gap_seconds`` without an event."""
    seconds = engine.epoch_seconds(events["ts"])
    events = events.mutate(seconds=seconds)
    order = ibis.window(group_by=events[key], order_by=[events["seconds"], events["event_id"]])
    gap = events["seconds"] - events["seconds"].lag().over(order)
    events = events.mutate(starts=ibis.ifelse(gap.isnull() | (gap > gap_seconds), 1, 0))
    running = ibis.cumulative_window(
        group_by=events[key], order_by=[events["seconds"], events["event_id"]]
    )
    return events.mutate(session=events["starts"].sum().over(running))


def web_features(
    engine: Engine, events: ir.Table, transactions: ir.Table, as_of: datetime
) -> ir.Table:
    """The ``web_*`` columns per customer (see the module), as an unexecuted query.

    ``events`` and ``transactions`` are the canonical tables with resolved customer ids.
    """
    clicks = events.filter(events["type"].isin(WEB_TYPES) & (events["ts"] < as_of))
    props = clicks["properties"]
    clicks = clicks.mutate(
        device=engine.json_text(props, "device"),
        channel=engine.json_text(props, "channel"),
        category=engine.json_text(props, "category"),
        seconds=engine.epoch_seconds(clicks["ts"]),
    ).drop("properties")
    # only the session aggregates need the (sorting) window: the rest reads the events as
    # they are
    timed = sessionised(
        engine,
        clicks.select("customer_id", "event_id", "ts", "type", "channel"),
        SESSION_GAP_SECONDS,
    )
    is_type = {t: (timed["type"] == t).cast("int64") for t in WEB_TYPES}
    sessions = timed.group_by(["customer_id", "session"]).aggregate(
        events=timed.count(),
        minutes=(timed["seconds"].max() - timed["seconds"].min()) / 60.0,
        views=is_type["product_view"].sum(),
        carts=is_type["add_to_cart"].sum(),
        searches=is_type["search"].sum(),
        checkouts=is_type["checkout"].sum(),
        # the marketing channel that brought the session: its first event's
        channel=ibis.ifelse(timed["starts"] == 1, timed["channel"], ibis.null()).max(),
    )
    has_cart = (sessions["carts"] > 0).cast("int64")
    per_session = sessions.group_by("customer_id").aggregate(
        web_sessions=sessions.count(),
        web_pages_per_session=sessions["events"].mean(),
        web_session_minutes=sessions["minutes"].mean(),
        web_product_views=sessions["views"].mean(),
        web_cart_adds=sessions["carts"].mean(),
        cart_sessions=has_cart.sum(),
        abandoned=(has_cart * (sessions["checkouts"] == 0).cast("int64")).sum(),
        web_search_share=share(sessions["searches"] > 0),
        web_conversion=share(sessions["checkouts"] > 0),
        **{
            f"web_{name}_share": share(sessions["channel"] == value)
            for name, value in _CHANNELS.items()
        },
    )
    per_session = per_session.mutate(
        web_cart_abandonment=ibis.ifelse(
            per_session["cart_sessions"] > 0,
            per_session["abandoned"] / per_session["cart_sessions"],
            0.0,
        )
    ).drop("cart_sessions", "abandoned")

    bought = (
        transactions.filter(
            (transactions["ts"] < as_of)
            & transactions["category"].notnull()
            & (transactions["amount"] > 0)
        )
        .select("customer_id", "category")
        .distinct()
        .mutate(bought=ibis.literal(1))
    )
    views = clicks.filter(clicks["type"] == "product_view").select("customer_id", "category")
    views = views.left_join(
        bought,
        (views["customer_id"] == bought["customer_id"]) & (views["category"] == bought["category"]),
    ).select(views["customer_id"], unbought=bought["bought"].isnull().cast("float64"))
    unbought = views.group_by("customer_id").aggregate(
        web_unbought_view_share=views["unbought"].mean()
    )

    hour = clicks["ts"].hour()
    night = (hour >= 21) | (hour < 5)
    morning = (hour >= 5) & (hour < 12)
    last_seconds = engine.epoch_seconds(ibis.literal(as_of))
    per_event = clicks.group_by("customer_id").aggregate(
        web_app_share=share((clicks["source"] == "app") | (clicks["type"] == "app_view")),
        web_mobile_share=share(clicks["device"] == "mobile"),
        web_desktop_share=share(clicks["device"] == "desktop"),
        web_night_share=share(night),
        web_morning_share=share(morning),
        web_weekend_share=share(clicks["ts"].day_of_week.index() >= 5),
        web_days_since_visit=(last_seconds - clicks["seconds"].max()) / 86400.0,
    )
    joined = per_session.inner_join(per_event, "customer_id").left_join(unbought, "customer_id")
    return joined.select(
        "customer_id",
        *WEB_COLUMNS[:-1],
        web_unbought_view_share=joined["web_unbought_view_share"].fill_null(0.0),
    )


#: the columns of :func:`web_features` after ``customer_id``, in order
WEB_COLUMNS = (
    "web_sessions",
    "web_pages_per_session",
    "web_session_minutes",
    "web_product_views",
    "web_cart_adds",
    "web_cart_abandonment",
    "web_search_share",
    "web_conversion",
    "web_app_share",
    "web_mobile_share",
    "web_desktop_share",
    "web_paid_share",
    "web_email_share",
    "web_social_share",
    "web_search_channel_share",
    "web_night_share",
    "web_morning_share",
    "web_weekend_share",
    "web_days_since_visit",
    "web_unbought_view_share",
)
