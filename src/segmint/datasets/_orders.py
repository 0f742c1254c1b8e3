"""Simulation of one chunk of customers' orders, lines and returns (see
:mod:`segmint.datasets.synthetic`, whose docstring describes the model).

Private to :mod:`segmint.datasets.synthetic`, which draws the customers and calls
:func:`simulate_chunk` on fixed-size blocks of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.datasets.archetypes import ARCHETYPES, CATEGORIES, CHANNELS, COLOURS
from segmint.schema import TRANSACTION_COLUMNS

__all__ = [
    "TRANSACTIONS_SCHEMA",
    "Catalog",
    "SeasonalClock",
    "format_ids",
    "make_catalog",
    "simulate_chunk",
]

#: Arrow schema of the transactions table: the canonical columns, then ``country``.
TRANSACTIONS_SCHEMA: pa.Schema = pa.schema(
    [
        (
            name,
            {
                "VARCHAR": pa.string(),
                "TIMESTAMP": pa.timestamp("us"),
                "DOUBLE": pa.float64(),
                "BOOLEAN": pa.bool_(),
            }[kind],
        )
        for name, kind in TRANSACTION_COLUMNS.items()
    ]
    + [("country", pa.string())]
)

_DAY = 86_400
# Orders are placed between 08:00 and 22:00.
_OPEN_S, _OPEN_HOURS_S = 8 * 3600, 14 * 3600
# Seasonal clock: relative order intensity by calendar month (Q4 peak, January lull).
_MONTH_INTENSITY = np.array([0.85, 0.9, 1.0, 1.0, 1.0, 0.95, 0.95, 1.0, 1.0, 1.15, 1.5, 1.6])
# Gift season: 1 November up to (not including) 23 December.
_SEASON = ((11, 1), (12, 23))


def format_ids(prefix: str | pa.Array, numbers: np.ndarray, width: int) -> pa.Array:
    """Zero-padded string ids such as ``C0000001`` (Arrow kernels, no Python loop)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


@dataclass(frozen=True)
class Catalog:
    """Products sorted by category, then price; ``start``/``size`` index each category."""

    product_id: pa.Array
    description: pa.Array
    category: np.ndarray
    price: np.ndarray
    start: np.ndarray
    size: np.ndarray


def make_catalog(rng: np.random.Generator) -> Catalog:
    """Draw 20-60 products per category with log-normal prices around its level."""
    ids, descriptions, categories, prices, sizes = [], [], [], [], []
    for k, cat in enumerate(CATEGORIES):
        size = int(rng.integers(20, 61))
        price = np.sort(np.round(cat.price_level * rng.lognormal(0.0, 0.45, size), 2))
        price = np.maximum(price, 0.19)
        # Product numbers are shuffled so the id says nothing about the price.
        numbers = rng.permutation(size) + 1
        words = rng.integers(0, len(cat.words), size)
        colours = rng.integers(0, len(COLOURS), size)
        for j in range(size):
            ids.append(f"{cat.code}-{numbers[j]:04d}")
            text = f"{cat.words[words[j]]} {cat.nouns[j % len(cat.nouns)]} {COLOURS[colours[j]]}"
            descriptions.append(text[0].upper() + text[1:])
        categories.append(np.full(size, k))
        prices.append(price)
        sizes.append(size)
    size = np.array(sizes)
    return Catalog(
        product_id=pa.array(ids),
        description=pa.array(descriptions),
        category=np.concatenate(categories),
        price=np.concatenate(prices),
        start=np.cumsum(size) - size,
        size=size,
    )


class SeasonalClock:
    """Maps days since the start to seasonal-clock time and back (piecewise linear).

    The clock runs at each calendar month's relative intensity, so a renewal process with
    constant gaps on this clock places more orders in busy months.
    """

    def __init__(self, start_day: date, n_days: int) -> None:
        self.start_day = start_day
        self.n_days = n_days
        days = np.datetime64(start_day, "D") + np.arange(n_days)
        month = days.astype("datetime64[M]").astype(np.int64) % 12
        self.days = np.arange(n_days + 1, dtype=np.float64)
        self.clock = np.concatenate([[0.0], np.cumsum(_MONTH_INTENSITY[month])])
        self.seasons = self._seasons(start_day, n_days)

    def to_clock(self, t: np.ndarray) -> np.ndarray:
        return np.interp(t, self.days, self.clock)

    def to_days(self, u: np.ndarray) -> np.ndarray:
        return np.interp(u, self.clock, self.days)

    @staticmethod
    def _seasons(start_day: date, n_days: int) -> np.ndarray:
        """(first day, end day) of every gift season fully inside the period."""
        end_day = date.fromordinal(start_day.toordinal() + n_days)
        rows = []
        for year in range(start_day.year, end_day.year + 1):
            (m0, d0), (m1, d1) = _SEASON
            s = (date(year, m0, d0) - start_day).days
            e = (date(year, m1, d1) - start_day).days
            if s >= 0 and e <= n_days:
                rows.append((s, e))
        return np.array(rows, dtype=np.float64).reshape(-1, 2)


def _customer_mix(rng: np.random.Generator, archetype: np.ndarray) -> np.ndarray:
    """Each customer's category shares: a Dirichlet draw around the archetype's mix."""
    names = [c.name for c in CATEGORIES]
    alpha = np.array(
        [
            [a.category_mix.get(name, 0.02) if a.category_mix else 1.0 for name in names]
            for a in ARCHETYPES.values()
        ]
    )
    alpha = alpha / alpha.sum(axis=1, keepdims=True)
    alpha *= np.array([a.mix_concentration for a in ARCHETYPES.values()])[:, None]
    # Dirichlet with per-row parameters: normalised independent gamma draws.
    draws = rng.standard_gamma(alpha[archetype])
    return draws / draws.sum(axis=1, keepdims=True)


def _param(name: str, archetype: np.ndarray) -> np.ndarray:
    """One archetype parameter per customer."""
    values = [getattr(a, name) for a in ARCHETYPES.values()]
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)[archetype]


def _renewal_orders(
    rng: np.random.Generator, clock: SeasonalClock, archetype: np.ndarray, who: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Order days of customers ``who`` from their archetype's gamma renewal process."""
    arch = archetype[who]
    n, n_days = len(who), clock.n_days
    lo = np.array([a.first_days[0] for a in ARCHETYPES.values()])[arch]
    hi = np.array(
        [
            n_days if a.first_days[1] is None else min(a.first_days[1], n_days)
            for a in ARCHETYPES.values()
        ]
    )[arch]
    t0 = n_days - rng.uniform(lo, hi)
    stop = np.array([a.stop_days for a in ARCHETYPES.values()])[arch]
    t_stop = n_days - rng.uniform(stop[:, 0], stop[:, 1])
    u0, u_stop = clock.to_clock(t0), clock.to_clock(t_stop)

    gap = _param("gap_days", arch) * rng.lognormal(0.0, _param("gap_sigma", arch))
    shape = _param("regularity", arch)
    cap = np.nan_to_num(_param("max_orders", arch), nan=np.inf)
    # Draw comfortably more gaps than the span needs so the process is never cut short.
    expected = (u_stop - u0) / gap
    n_gen = np.minimum(np.ceil(expected + 4.0 * np.sqrt(expected) + 3.0), cap).astype(np.int64)

    owner = np.repeat(np.arange(n), n_gen)
    first = np.cumsum(n_gen) - n_gen
    gaps = rng.gamma(shape[owner], gap[owner] / shape[owner])
    gaps[first] = 0.0  # the first order is the first purchase itself
    elapsed = np.cumsum(gaps)
    u = u0[owner] + elapsed - elapsed[first][owner]
    keep = u < u_stop[owner]
    return who[owner[keep]], clock.to_days(u[keep])


def _seasonal_orders(
    rng: np.random.Generator, clock: SeasonalClock, who: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Order days of gift buyers ``who``: the gift seasons from a first one onwards."""
    seasons, n_days = clock.seasons, clock.n_days
    n = len(who)
    # The first season ends at least 180 days before the end, so gift buyers have tenure.
    eligible = int(np.sum(seasons[:, 1] <= n_days - 180))
    first = rng.integers(0, eligible, size=n)
    owners, days = [], []
    for k, (s, e) in enumerate(seasons):
        buys = (first == k) | ((first < k) & (rng.random(n) < 0.85))
        count = buys * (1 + rng.poisson(0.5, n))
        owner = np.repeat(np.arange(n), count)
        # sqrt of a uniform leans orders towards December.
        owners.append(owner)
        days.append(s + (e - s) * np.sqrt(rng.random(len(owner))))
    # A few gift buyers also buy once outside the season, after their first season.
    extra = np.flatnonzero(rng.random(n) < 0.06)
    owners.append(extra)
    days.append(rng.uniform(seasons[first[extra], 0], n_days))
    return who[np.concatenate(owners)], np.concatenate(days)


def simulate_chunk(
    rng: np.random.Generator,
    archetype: np.ndarray,
    main_channel: np.ndarray,
    clock: SeasonalClock,
    catalog: Catalog,
    order_offset: int,
    customer_ids: pa.Array,
    country: pa.Array,
    with_categories: bool,
) -> tuple[pa.RecordBatch, int]:
    """Simulate the orders, lines and returns of one chunk of customers.

    Returns the chunk's transactions as a record batch and its number of purchase orders.
    """
    seasonal = np.array([a.seasonal for a in ARCHETYPES.values()])[archetype]
    cust_a, day_a = _renewal_orders(rng, clock, archetype, np.flatnonzero(~seasonal))
    cust_b, day_b = _seasonal_orders(rng, clock, np.flatnonzero(seasonal))
    cust = np.concatenate([cust_a, cust_b])
    day = np.concatenate([day_a, day_b])
    order = np.lexsort((day, cust))
    cust, day = cust[order], day[order]
    n_orders = len(cust)

    # Per order: time of day in opening hours, channel (usually the customer's own), lines.
    whole = np.floor(day)
    order_s = (whole * _DAY + _OPEN_S + (day - whole) * _OPEN_HOURS_S).astype(np.int64)
    channel = np.where(
        rng.random(n_orders) < 0.8, main_channel[cust], rng.integers(0, len(CHANNELS), n_orders)
    )
    n_lines = 1 + rng.poisson(_param("extra_lines", archetype)[cust])
    line_order = np.repeat(np.arange(n_orders), n_lines)
    line_cust = cust[line_order]
    n_rows = len(line_order)

    # Category from the customer's own Dirichlet mix; inverse-CDF over the few categories.
    mix = _customer_mix(rng, archetype)
    cum = np.cumsum(mix, axis=1)
    u = rng.random(n_rows)
    category = np.zeros(n_rows, dtype=np.int64)
    for k in range(len(CATEGORIES) - 1):
        category += u > cum[line_cust, k]
    # Product by price rank within the category.
    beta = np.array([a.price_position for a in ARCHETYPES.values()])[archetype]
    rank = rng.beta(beta[line_cust, 0], beta[line_cust, 1])
    size = catalog.size[category]
    product = catalog.start[category] + np.minimum((rank * size).astype(np.int64), size - 1)
    quantity = (1 + rng.poisson(_param("extra_units", archetype)[line_cust])).astype(np.float64)

    # Returns: each line with the customer's return probability, part or all of its quantity,
    # a few days after the order and only if that is still inside the period.
    rate = _param("return_rate", archetype)
    rate = rng.beta(rate * 20.0, (1.0 - rate) * 20.0)
    # Whole days, so a return keeps the order's time of day (within opening hours).
    delay = (1 + rng.geometric(1.0 / 8.0, n_orders)) * np.int64(_DAY)
    returned = np.flatnonzero(rng.random(n_rows) < rate[line_cust])
    ret_s = order_s[line_order[returned]] + delay[line_order[returned]]
    inside = ret_s < clock.n_days * _DAY
    returned, ret_s = returned[inside], ret_s[inside]
    ret_qty = -np.floor(1.0 + rng.random(len(returned)) * quantity[returned])

    # Purchase lines then return lines, ordered by customer and time (stable keeps line order).
    row = np.concatenate([np.arange(n_rows), returned])
    is_return = np.concatenate([np.zeros(n_rows, bool), np.ones(len(returned), bool)])
    seconds = np.concatenate([order_s[line_order], ret_s])
    qty = np.concatenate([quantity, ret_qty])
    sort = np.argsort(line_cust[row] * np.int64(clock.n_days * _DAY + 1) + seconds, kind="stable")
    row, is_return, seconds, qty = row[sort], is_return[sort], seconds[sort], qty[sort]
    prod = product[row]
    price = catalog.price[prod]
    ts = np.datetime64(clock.start_day, "us") + seconds.astype("timedelta64[s]")
    order_number = order_offset + 1 + line_order[row]
    if with_categories:
        cat_col = pa.array([c.name for c in CATEGORIES]).take(pa.array(category[row]))
    else:
        cat_col = pa.nulls(len(row), pa.string())
    local = pa.array(line_cust[row])
    batch = pa.RecordBatch.from_arrays(
        [
            customer_ids.take(local),
            format_ids(pc.if_else(pa.array(is_return), "R", "O"), order_number, 8),
            pa.array(ts),
            catalog.product_id.take(pa.array(prod)),
            catalog.description.take(pa.array(prod)),
            cat_col,
            pa.array(qty),
            pa.array(price),
            pa.array(qty * price),
            pa.array(CHANNELS).take(pa.array(channel[line_order[row]])),
            pa.array(is_return),
            country.take(local),
        ],
        schema=TRANSACTIONS_SCHEMA,
    )
    return batch, n_orders
