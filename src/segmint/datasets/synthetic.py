"""Synthetic retail transactions with planted customer segments.

The generator simulates an online/offline retailer: a product catalogue of ten categories, a
population of customers drawn from a handful of behavioural *archetypes* (:data:`ARCHETYPES`),
their orders, order lines and returns. The archetype of every customer is returned as a label,
so tests and benchmarks can check that segmentation recovers the planted segments.

Everything is vectorised with NumPy and built in chunks of customers, so a million customers
(about twenty million lines) fit in a few gigabytes of memory.

The parameters (categories, archetypes) are in :mod:`segmint.datasets.archetypes`; the
simulation of one chunk of customers' orders is in ``segmint.datasets._orders``. This module
draws the customers, runs the chunks and writes the files.

How a customer's orders are simulated
-------------------------------------
* Each customer first buys on a day drawn from their archetype's range (in days before the end
  of the period) and, for lapsing archetypes, stops buying at a drawn day.
* Between those days orders follow a renewal process with gamma-distributed gaps: the mean gap
  sets the frequency, the gamma shape sets the regularity (shape 1 is a Poisson process,
  larger shapes are more regular). Gaps are counted on a seasonal clock that runs faster in
  the fourth quarter, which gives everyone a mild Q4 peak.
* Seasonal gift buyers instead buy in the November-December run-up to Christmas.
* An order has ``1 + Poisson`` lines; each line picks a category from the customer's own
  category mix (a Dirichlet draw around the archetype's mix) and a product by its price rank
  within the category (a Beta draw: bargain hunters pick the cheap end).
* Each line is returned with the customer's return probability; a return is a line with
  negative quantity in order ``R<number of the original order>`` a few days later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from segmint.datasets._orders import (
    TRANSACTIONS_SCHEMA,
    SeasonalClock,
    format_ids,
    make_catalog,
    simulate_chunk,
)
from segmint.datasets.archetypes import (
    ARCHETYPES,
    CHANNELS,
    COUNTRIES,
    COUNTRY_WEIGHTS,
)
from segmint.errors import DataValidationError
from segmint.files import atomic_path

__all__ = ["TRANSACTIONS_SCHEMA", "SyntheticData", "generate", "write"]


_CUSTOMERS_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("country", pa.string()),
        ("age", pa.int64()),
        ("signup_channel", pa.string()),
    ]
)
_LABELS_SCHEMA = pa.schema([("customer_id", pa.string()), ("segment", pa.string())])

# Customers are simulated in fixed-size chunks, each with its own child seed, so memory stays
# bounded and the result depends on the seed only (not on the machine).
_CHUNK = 50_000
_MIN_WINDOW_DAYS = 730


@dataclass(frozen=True)
class SyntheticData:
    """Generated data set.

    Parameters
    ----------
    transactions : pyarrow.Table
        One row per order line, in :data:`TRANSACTIONS_SCHEMA` (canonical columns plus
        ``country``), grouped by customer and in time order within a customer.
    customers : pyarrow.Table
        ``customer_id``, ``country``, ``age``, ``signup_channel``.
    labels : pyarrow.Table
        ``customer_id`` and ``segment``, the planted archetype name.
    as_of : datetime
        End of the simulated period (exclusive); every ``ts`` is before it.
    """

    transactions: pa.Table
    customers: pa.Table
    labels: pa.Table
    as_of: datetime


def generate(
    n_customers: int = 5000,
    *,
    start: str | date = "2023-01-01",
    end: str | date = "2025-01-01",
    seed: int = 0,
    with_categories: bool = True,
    archetype_weights: dict[str, float] | None = None,
) -> SyntheticData:
    """Generate customers, their transactions and their planted segments.

    Parameters
    ----------
    n_customers : int, default=5000
        Number of customers; each has at least one purchase.
    start, end : str or date, default="2023-01-01", "2025-01-01"
        First day and end (exclusive) of the simulated period, as ISO dates or dates.
        The period must span at least 730 days so every archetype can show its behaviour.
    seed : int, default=0
        Random seed; the same arguments always give the same data.
    with_categories : bool, default=True
        Fill the ``category`` column. When False it is null on every row and categories
        must be derived from descriptions or product id families.
    archetype_weights : dict of str to float, optional
        Share of customers per archetype name (normalised; names left out get none).
        Defaults to each archetype's ``weight``.

    Returns
    -------
    SyntheticData
        Transactions (about 20 lines per customer over two years), customers, labels and
        the analysis date ``as_of`` (equal to ``end``).

    Raises
    ------
    DataValidationError
        If an argument is out of range or names an unknown archetype.

    Examples
    --------
    >>> from segmint.datasets import generate
    >>> data = generate(200, seed=1)
    >>> data.labels.num_rows
    200
    >>> data.transactions.column_names[:3]
    ['customer_id', 'order_id', 'ts']
    """
    if isinstance(n_customers, bool) or not isinstance(n_customers, (int, np.integer)):
        raise DataValidationError(f"n_customers must be an integer, got {n_customers!r}")
    if n_customers < 1:
        raise DataValidationError(f"n_customers must be at least 1, got {n_customers}")
    start_day, end_day = _to_day(start, "start"), _to_day(end, "end")
    n_days = (end_day - start_day).days
    if n_days < _MIN_WINDOW_DAYS:
        raise DataValidationError(
            f"the period {start_day} to {end_day} spans {n_days} days; at least "
            f"{_MIN_WINDOW_DAYS} are needed for the archetypes to show their behaviour"
        )
    weights = _weights(archetype_weights)

    root = np.random.SeedSequence(seed)
    top_seed, chunk_seed = root.spawn(2)
    rng = np.random.default_rng(top_seed)
    catalog = make_catalog(rng)
    archetype = _assign_archetypes(rng, weights, n_customers)
    arch_list = list(ARCHETYPES.values())

    customer_ids = format_ids("C", np.arange(1, n_customers + 1), 7)
    country = rng.choice(len(COUNTRIES), size=n_customers, p=COUNTRY_WEIGHTS)
    age_mean = np.array([a.age_mean for a in arch_list])[archetype]
    age = np.clip(np.rint(rng.normal(age_mean, 11.0)), 18, 85).astype(np.int64)
    channel_cum = np.cumsum([a.channel_probs for a in arch_list], axis=1)[archetype]
    main_channel = (rng.random(n_customers)[:, None] > channel_cum[:, :-1]).sum(axis=1)

    clock = SeasonalClock(start_day, n_days)
    countries = pa.array(COUNTRIES)
    batches = []
    order_offset = 0
    n_chunks = -(-n_customers // _CHUNK)
    for lo, child in zip(range(0, n_customers, _CHUNK), chunk_seed.spawn(n_chunks), strict=True):
        hi = min(lo + _CHUNK, n_customers)
        batch, n_orders = simulate_chunk(
            np.random.default_rng(child),
            archetype[lo:hi],
            main_channel[lo:hi],
            clock,
            catalog,
            order_offset,
            customer_ids.slice(lo, hi - lo),
            countries.take(pa.array(country[lo:hi])),
            with_categories,
        )
        batches.append(batch)
        order_offset += n_orders

    names = pa.array([a.name for a in arch_list])
    channels = pa.array(CHANNELS)
    customers = pa.Table.from_arrays(
        [
            customer_ids,
            countries.take(pa.array(country)),
            pa.array(age),
            channels.take(pa.array(main_channel)),
        ],
        schema=_CUSTOMERS_SCHEMA,
    )
    labels = pa.Table.from_arrays(
        [customer_ids, names.take(pa.array(archetype))], schema=_LABELS_SCHEMA
    )
    transactions = pa.Table.from_batches(batches, schema=TRANSACTIONS_SCHEMA)
    return SyntheticData(
        transactions=transactions,
        customers=customers,
        labels=labels,
        as_of=datetime.combine(end_day, datetime.min.time()),
    )


def write(
    data: SyntheticData, directory: str | os.PathLike, *, fmt: str = "parquet"
) -> dict[str, Path]:
    """Write the three tables of a data set to a directory, atomically per file.

    Each table goes to a temporary file in ``directory`` that is then renamed over the
    target, so a failure never leaves a half-written file behind.

    Parameters
    ----------
    data : SyntheticData
        The data set to write.
    directory : str or path-like
        Target directory; created if missing.
    fmt : {"parquet", "csv"}, default="parquet"
        File format. CSV timestamps are written as ISO 8601 text and null categories as
        empty fields.

    Returns
    -------
    dict of str to Path
        ``{"transactions": ..., "customers": ..., "labels": ...}`` paths written.

    Raises
    ------
    DataValidationError
        If ``fmt`` is not supported.
    """
    if fmt not in ("parquet", "csv"):
        raise DataValidationError(f"unknown format {fmt!r}; expected 'parquet' or 'csv'")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in ("transactions", "customers", "labels"):
        target = directory / f"{name}.{fmt}"
        with atomic_path(target) as tmp:
            table = getattr(data, name)
            if fmt == "parquet":
                pq.write_table(table, tmp)
            else:
                pacsv.write_csv(table, tmp)
        paths[name] = target
    return paths


# --- helpers --------------------------------------------------------------------------------


def _to_day(value: str | date, name: str) -> date:
    """Parse a period bound into a date, refusing times of day (the period is whole days)."""
    if isinstance(value, datetime):
        if value.time() != datetime.min.time():
            raise DataValidationError(f"{name} must be a date (midnight), got {value.isoformat()}")
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise DataValidationError(
            f"{name} must be an ISO date like 2023-01-01, got {value!r}"
        ) from None


def _weights(archetype_weights: dict[str, float] | None) -> np.ndarray:
    """Normalised archetype shares in :data:`ARCHETYPES` order."""
    if archetype_weights is None:
        raw = np.array([a.weight for a in ARCHETYPES.values()])
    else:
        unknown = sorted(set(archetype_weights) - set(ARCHETYPES))
        if unknown:
            raise DataValidationError(
                f"unknown archetype(s) {', '.join(map(repr, unknown))}; expected names from: "
                + ", ".join(ARCHETYPES)
            )
        raw = np.array([float(archetype_weights.get(name, 0.0)) for name in ARCHETYPES])
        if not np.all(np.isfinite(raw)) or np.any(raw < 0) or raw.sum() <= 0:
            raise DataValidationError(
                "archetype_weights must be finite, non-negative and not all zero"
            )
    return raw / raw.sum()


def _assign_archetypes(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """Archetype code per customer: exact shares (largest remainder), randomly placed."""
    exact = weights * n
    counts = np.floor(exact).astype(np.int64)
    short = n - counts.sum()
    counts[np.argsort(counts - exact, kind="stable")[:short]] += 1
    return rng.permutation(np.repeat(np.arange(len(weights)), counts))
