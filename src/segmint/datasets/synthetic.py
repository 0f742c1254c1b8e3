"""Synthetic retail transactions with planted customer segments.

The generator simulates an online/offline retailer: a product catalogue of ten categories, a
population of customers drawn from a handful of behavioural *archetypes* (:data:`ARCHETYPES`),
their orders, order lines and returns. The archetype of every customer is returned as a label,
so tests and benchmarks can check that segmentation recovers the planted segments.

Everything is vectorised with NumPy and simulated in blocks of customers. :func:`generate`
collects the blocks into tables (a million customers, about twenty million lines, fit in a few
gigabytes of memory); :func:`write_stream` appends them to Parquet files one block at a time,
so its memory does not grow with the number of customers beyond a few bytes each.

The parameters (categories, archetypes) are in :mod:`segmint.datasets.archetypes`; the
simulation of one block of customers' orders is in ``segmint.datasets._orders``. This module
draws the customers, runs the blocks and writes the files.

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
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from segmint.datasets._orders import (
    TRANSACTIONS_SCHEMA,
    Catalog,
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

__all__ = ["TRANSACTIONS_SCHEMA", "SyntheticData", "generate", "write", "write_stream"]


_CUSTOMERS_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("country", pa.string()),
        ("age", pa.int64()),
        ("signup_channel", pa.string()),
    ]
)
_LABELS_SCHEMA = pa.schema([("customer_id", pa.string()), ("segment", pa.string())])
_SCHEMAS = {
    "transactions": TRANSACTIONS_SCHEMA,
    "customers": _CUSTOMERS_SCHEMA,
    "labels": _LABELS_SCHEMA,
}

# Customers are simulated in fixed-size blocks, each with its own child seed, so memory stays
# bounded and the result depends on the seed only (not on the machine, nor on how the blocks are
# consumed). Changing it changes the data of every seed.
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
    population = _draw_population(n_customers, start, end, seed, with_categories, archetype_weights)
    blocks = list(_simulate(population))
    transactions = pa.Table.from_batches([b[0] for b in blocks], schema=TRANSACTIONS_SCHEMA)
    # The (small) customer tables in one chunk each, as when they were drawn in one go, which
    # keeps the files that `write` makes unchanged.
    customers = pa.Table.from_batches([b[1] for b in blocks], schema=_CUSTOMERS_SCHEMA)
    labels = pa.Table.from_batches([b[2] for b in blocks], schema=_LABELS_SCHEMA)
    return SyntheticData(
        transactions=transactions,
        customers=customers.combine_chunks(),
        labels=labels.combine_chunks(),
        as_of=datetime.combine(population.end_day, datetime.min.time()),
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


def write_stream(
    n_customers: int,
    directory: str | os.PathLike,
    *,
    start: str | date = "2023-01-01",
    end: str | date = "2025-01-01",
    seed: int = 0,
    with_categories: bool = True,
    archetype_weights: dict[str, float] | None = None,
    row_group_size: int | None = None,
) -> dict[str, Path]:
    """Generate a data set straight into Parquet files, a block of customers at a time.

    The same data as :func:`generate` with the same arguments, without ever holding it all:
    customers are simulated in blocks of 50,000 (about a million transaction lines) and each
    block is appended to the three files before the next is simulated. Memory therefore stays
    at one block plus a few bytes per customer (a peak of 0.55 to 0.6 GiB from 1 to 10
    million customers), so tens of millions of customers fit on one machine. Each file is
    written to a temporary file in ``directory`` and renamed over its target only once all
    three are complete, so a failure or an interruption never leaves a half-written file
    behind.

    Parameters
    ----------
    n_customers : int
        Number of customers; each has at least one purchase.
    directory : str or path-like
        Target directory; created if missing.
    start, end : str or date, default="2023-01-01", "2025-01-01"
        First day and end (exclusive) of the simulated period; see :func:`generate`.
    seed : int, default=0
        Random seed; the same arguments always give the same data, the data of
        :func:`generate`.
    with_categories : bool, default=True
        Fill the ``category`` column; see :func:`generate`.
    archetype_weights : dict of str to float, optional
        Share of customers per archetype name; see :func:`generate`.
    row_group_size : int, optional
        Most rows per Parquet row group. Defaults to pyarrow's. A block's rows never share a
        row group with the next block's. The layout of the files only: the data is the same
        for any value.

    Returns
    -------
    dict of str to Path
        ``{"transactions": ..., "customers": ..., "labels": ...}`` paths written, each in the
        schema of the matching :class:`SyntheticData` table.

    Raises
    ------
    DataValidationError
        If an argument is out of range or names an unknown archetype (before anything is
        written).

    See Also
    --------
    generate : the same data as in-memory tables.
    write : write a generated data set (Parquet or CSV).

    Examples
    --------
    >>> import tempfile, pyarrow.parquet as pq
    >>> from segmint.datasets import write_stream
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     paths = write_stream(200, folder, seed=1)
    ...     pq.read_metadata(paths["labels"]).num_rows
    200
    """
    population = _draw_population(n_customers, start, end, seed, with_categories, archetype_weights)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / f"{name}.parquet" for name in _SCHEMAS}
    with ExitStack() as stack:
        # Entered last, renamed first: if the transactions cannot be put in place, neither
        # are the customers and labels.
        tmps = {name: stack.enter_context(atomic_path(paths[name])) for name in reversed(paths)}
        writers = [
            stack.enter_context(pq.ParquetWriter(tmps[name], schema))
            for name, schema in _SCHEMAS.items()
        ]
        for batches in _simulate(population):
            for writer, batch in zip(writers, batches, strict=True):
                writer.write_batch(batch, row_group_size=row_group_size)
            # Released before the next block is simulated: one block in memory, not two.
            del batches, batch
    return paths


# --- helpers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Population:
    """The customers of a data set, drawn up front, and what their simulation needs.

    Per customer only small codes are kept (a byte each), so the population of tens of
    millions of customers takes tens of MiB; their transactions are simulated block by block.
    """

    end_day: date
    clock: SeasonalClock
    catalog: Catalog
    archetype: np.ndarray
    country: np.ndarray
    age: np.ndarray
    main_channel: np.ndarray
    block_seeds: list[np.random.SeedSequence]
    with_categories: bool


def _draw_population(
    n_customers: int,
    start: str | date,
    end: str | date,
    seed: int,
    with_categories: bool,
    archetype_weights: dict[str, float] | None,
) -> _Population:
    """Check the arguments of :func:`generate` and draw the catalogue and the customers."""
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
    top_seed, block_seed = root.spawn(2)
    rng = np.random.default_rng(top_seed)
    catalog = make_catalog(rng)
    archetype = _assign_archetypes(rng, weights, n_customers)
    arch_list = list(ARCHETYPES.values())
    age_mean = np.array([a.age_mean for a in arch_list])
    channel_cum = np.cumsum([a.channel_probs for a in arch_list], axis=1)
    # Each attribute is drawn for all customers before the next, as in one vectorised draw
    # (which fixes the data of a seed), but a block at a time to keep the temporaries small.
    blocks = [slice(lo, lo + _CHUNK) for lo in range(0, n_customers, _CHUNK)]
    country, age, main_channel = (np.empty(n_customers, np.int8) for _ in range(3))
    for b in blocks:
        country[b] = rng.choice(len(COUNTRIES), size=len(archetype[b]), p=COUNTRY_WEIGHTS)
    for b in blocks:
        age[b] = np.clip(np.rint(rng.normal(age_mean[archetype[b]], 11.0)), 18, 85)
    for b in blocks:
        cum = channel_cum[archetype[b]]
        main_channel[b] = (rng.random(len(cum))[:, None] > cum[:, :-1]).sum(axis=1)
    return _Population(
        end_day=end_day,
        clock=SeasonalClock(start_day, n_days),
        catalog=catalog,
        archetype=archetype,
        country=country,
        age=age,
        main_channel=main_channel,
        block_seeds=block_seed.spawn(len(blocks)),
        with_categories=with_categories,
    )


def _simulate(
    population: _Population,
) -> Iterator[tuple[pa.RecordBatch, pa.RecordBatch, pa.RecordBatch]]:
    """Transactions, customers and labels of each block of :data:`_CHUNK` customers in turn.

    Every block has its own child seed, so the data depends on the seed only, never on how
    the blocks are consumed.
    """
    countries, channels = pa.array(COUNTRIES), pa.array(CHANNELS)
    names = pa.array([a.name for a in ARCHETYPES.values()])
    n_customers = len(population.archetype)
    order_offset = 0
    for lo, child in zip(range(0, n_customers, _CHUNK), population.block_seeds, strict=True):
        block = slice(lo, min(lo + _CHUNK, n_customers))
        customer_ids = format_ids("C", np.arange(block.start, block.stop) + 1, 7)
        country = countries.take(pa.array(population.country[block]))
        archetype = population.archetype[block]
        main_channel = population.main_channel[block]
        transactions, n_orders = simulate_chunk(
            np.random.default_rng(child),
            archetype,
            main_channel,
            population.clock,
            population.catalog,
            order_offset,
            customer_ids,
            country,
            population.with_categories,
        )
        order_offset += n_orders
        customers = pa.RecordBatch.from_arrays(
            [
                customer_ids,
                country,
                pa.array(population.age[block].astype(np.int64)),
                channels.take(pa.array(main_channel)),
            ],
            schema=_CUSTOMERS_SCHEMA,
        )
        labels = pa.RecordBatch.from_arrays(
            [customer_ids, names.take(pa.array(archetype))], schema=_LABELS_SCHEMA
        )
        yield transactions, customers, labels
        # Released before the next block is simulated, once the consumer is done with them.
        del transactions, customers, labels


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
    return rng.permutation(np.repeat(np.arange(len(weights), dtype=np.int8), counts))
