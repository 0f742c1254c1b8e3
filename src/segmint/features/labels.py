"""Plain-language labels for feature columns, and the slug rule used to name derived columns."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["FEATURE_LABELS", "INDICATOR_SEPARATOR", "feature_label", "slugify"]

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
    "customer_value": "customer value",
}


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
    return name.startswith("cat_share_") or name.endswith(("_share", "_rate"))


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
    if name.startswith("outcome_"):
        return name.removeprefix("outcome_").replace("_", " ") + " (outcome)"
    if name.startswith("attr_"):
        key, sep, value = name.removeprefix("attr_").partition(INDICATOR_SEPARATOR)
        key = key.replace("_", " ")
        return f"{key} is {value.replace('_', ' ')}" if sep else key
    return name.replace("_", " ")
