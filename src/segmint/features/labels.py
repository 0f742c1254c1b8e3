"""Plain-language labels for feature columns, and the slug rule used to name derived columns."""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "FEATURE_LABELS",
    "INDICATOR_SEPARATOR",
    "SOURCE_COLUMNS",
    "SOURCE_PREFIXES",
    "coverage_column",
    "feature_label",
    "slugify",
]

#: separates an attribute's key from one of its values in a one-hot column name
#: (``attr_<key>__<value>``; slugs never hold two underscores in a row)
INDICATOR_SEPARATOR = "__"

#: feature column -> what it means, in words a marketing analyst would use.
FEATURE_LABELS: dict[str, str] = {
    "recency_days": "days since last order",
    "frequency": "number of orders",
    "monetary": "net spend",
    "tenure_days": "days since first order",
    "avg_order_value": "average order value",
    "interpurchase_mean_days": "average days between orders",
    "interpurchase_cv": "irregularity of days between orders",
    "return_rate": "share of spend returned",
    "basket_size": "items per order",
    "n_products": "number of different products bought",
    "n_categories": "number of different categories bought",
    "top_category_share": "share of spend in favourite category",
    "spend_trend": "recent spend trend",
    "recent_purchase_days": "purchase days in the last 90 days",
    "active_months": "months with a purchase",
    "customer_value": "customer value",
    "has_web": "visits the website or app",
    "web_sessions": "website/app visits",
    "web_pages_per_session": "pages per visit",
    "web_session_minutes": "minutes per visit",
    "web_product_views": "product views per visit",
    "web_cart_adds": "cart adds per visit",
    "web_cart_abandonment": "share of carts abandoned",
    "web_search_share": "share of visits with a search",
    "web_conversion": "share of visits ending in a purchase",
    "web_app_share": "share of browsing in the app",
    "web_mobile_share": "share of browsing on mobile",
    "web_desktop_share": "share of browsing on desktop",
    "web_paid_share": "share of visits from paid ads",
    "web_email_share": "share of visits from email",
    "web_social_share": "share of visits from social media",
    "web_search_channel_share": "share of visits from search engines",
    "web_night_share": "share of browsing at night",
    "web_morning_share": "share of browsing in the morning",
    "web_weekend_share": "share of browsing at weekends",
    "web_days_since_visit": "days since last visit",
    "web_unbought_view_share": "share of views in categories never bought",
    "has_chats": "contacts customer service",
    "chat_conversations": "conversations with customer service",
    "chat_messages_per_conversation": "messages per conversation",
    "chat_inbound_share": "share of messages written by the customer",
    "chat_response_minutes": "minutes waited for a reply",
    "chat_unresolved_share": "share of conversations left unanswered",
    "chat_escalation_share": "share of conversations escalated to an agent",
    "chat_sentiment": "tone of messages (-1 negative to 1 positive)",
    "chat_complaint_share": "share of messages that complain",
    "chat_days_since": "days since last conversation",
    "has_devices": "uses a connected device",
    "device_count": "connected devices",
    "device_minutes_per_day": "device minutes per day of use",
    "device_active_day_share": "share of days the device is used",
    "device_features": "device features used",
    "device_top_feature_share": "share of device use on one feature",
    "device_fault_rate": "share of device reports with a fault",
    "device_usage_trend": "device usage trend",
    "device_days_since": "days since the device was last used",
    "has_social": "engages on social media",
    "social_likes": "social likes",
    "social_shares": "social shares",
    "social_mentions": "social mentions",
    "social_reviews": "reviews written",
    "social_rating": "average review rating",
    "social_sentiment": "tone of social posts (-1 negative to 1 positive)",
    "social_days_since": "days since last social engagement",
}


#: each source beyond purchases: its features' column prefix and its coverage column (0/1:
#: the customer has data from the source)
SOURCE_COLUMNS = {
    "web": ("web_", "has_web"),
    "chats": ("chat_", "has_chats"),
    "devices": ("device_", "has_devices"),
    "social": ("social_", "has_social"),
}

#: the prefixes of every source's columns, coverage columns included
SOURCE_PREFIXES = (*(prefix for prefix, _ in SOURCE_COLUMNS.values()), "has_")


def coverage_column(name: str) -> str | None:
    """The coverage column of a source's feature (``web_sessions`` -> ``has_web``), else None.

    Examples
    --------
    >>> coverage_column("chat_sentiment"), coverage_column("has_chats")
    ('has_chats', None)
    """
    for prefix, coverage in SOURCE_COLUMNS.values():
        if name.startswith(prefix):
            return coverage
    return None


def slugify(text: object) -> str:
    """Turn a category or attribute name into a lowercase ASCII identifier fragment.

    Parameters
    ----------
    text : object
        Any value; it is converted with ``str`` first.

    Returns
    -------
    str
        Lowercase letters, digits and single underscores, e.g. ``"Home & Garden"`` ->
        ``"home_garden"``; ``"x"`` when nothing usable is left.
    """
    ascii_text = (
        unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii").lower()
    )
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")
    return slug or "x"


def is_share(name: str) -> bool:
    """Whether a feature is a share (0 to 1, shown as a percentage).

    Examples
    --------
    >>> is_share("cat_share_home"), is_share("return_rate"), is_share("monetary")
    (True, True, False)
    """
    return (
        name.startswith(("cat_share_", "chat_topic_", "chat_intent_", "has_"))
        or name.endswith(("_share", "_rate"))
        or name in ("web_cart_abandonment", "web_conversion")
    )


def feature_label(name: str) -> str:
    """Return a plain-language label for a feature column.

    Parameters
    ----------
    name : str
        A column produced by :func:`segmint.features.build_features`, including the generated
        ``cat_share_<slug>`` and ``attr_<name>`` columns.

    Returns
    -------
    str
        The label; for an unknown name, the name with underscores replaced by spaces.

    Examples
    --------
    >>> feature_label("monetary")
    'net spend'
    >>> feature_label("cat_share_christmas")
    'share of spend on christmas'
    >>> feature_label("attr_age")
    'age'
    >>> feature_label("attr_contract__month_to_month")
    'contract is month to month'
    """
    if name in FEATURE_LABELS:
        return FEATURE_LABELS[name]
    if name.startswith("cat_share_"):
        return "share of spend on " + name.removeprefix("cat_share_").replace("_", " ")
    if name.startswith("chat_intent_"):
        return "share of messages about " + name.removeprefix("chat_intent_").replace("_", " ")
    if name.startswith("chat_topic_"):
        # chat_topic_<k>_<its words>
        words = name.removeprefix("chat_topic_").partition("_")[2]
        return "share of messages about " + words.replace("_", " ")
    if name.startswith("outcome_"):
        return name.removeprefix("outcome_").replace("_", " ") + " (outcome)"
    if name.startswith("attr_"):
        key, sep, value = name.removeprefix("attr_").partition(INDICATOR_SEPARATOR)
        key = key.replace("_", " ")
        return f"{key} is {value.replace('_', ' ')}" if sep else key
    return name.replace("_", " ")
