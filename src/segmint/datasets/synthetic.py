"""Synthetic retail transactions with planted customer segments.

The generator simulates an online/offline retailer: a product catalogue of ten categories, a
population of customers drawn from a handful of behavioural *archetypes* (:data:`ARCHETYPES`),
their orders, order lines and returns. The archetype of every customer is returned as a label,
so tests and benchmarks can check that segmentation recovers the planted segments.

Everything is vectorised with NumPy and built in chunks of customers, so a million customers
(about twenty million lines) fit in a few gigabytes of memory.

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
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from segmint.errors import DataValidationError
from segmint.files import atomic_path
from segmint.schema import TRANSACTION_COLUMNS

__all__ = [
    "ARCHETYPES",
    "CATEGORIES",
    "TRANSACTIONS_SCHEMA",
    "Archetype",
    "Category",
    "SyntheticData",
    "generate",
    "write",
]


@dataclass(frozen=True)
class Category:
    """A product category of the synthetic catalogue.

    Parameters
    ----------
    code : str
        Family code used as the product id prefix (``"KIT"`` gives ``"KIT-0042"``).
    name : str
        Category name written to the ``category`` column.
    price_level : float
        Median unit price of the category's products.
    nouns : tuple of str
        Product nouns; each product description contains one of them.
    words : tuple of str
        Material or theme words typical of the category, also used in descriptions.
    """

    code: str
    name: str
    price_level: float
    nouns: tuple[str, ...]
    words: tuple[str, ...]


#: The ten product categories. Descriptions read ``"<Word> <noun> <colour>"``, e.g.
#: ``"Ceramic mug blue"``, so their words reveal the category to text clustering.
CATEGORIES: tuple[Category, ...] = tuple(
    Category(code, name, level, tuple(nouns.split(", ")), tuple(words.split()))
    for code, name, level, nouns, words in (
        (
            "KIT",
            "kitchen",
            6.0,
            "mug, teapot, milk jug, bowl, dinner plate, cake tin, tea towel, egg cup, "
            "storage jar, measuring spoons, apron, coaster set",
            "ceramic enamel stoneware baking kitchen",
        ),
        (
            "XMS",
            "christmas",
            4.0,
            "bauble, wreath, stocking, advent calendar, tree topper, gift tag set, "
            "nativity figure, snow globe, cracker set, tinsel garland",
            "christmas festive glitter snowflake reindeer",
        ),
        (
            "HOM",
            "home",
            12.0,
            "cushion cover, candle holder, vase, photo frame, lantern, wall clock, doormat, "
            "throw blanket, wall mirror, trinket box",
            "vintage rustic velvet decorative home",
        ),
        (
            "GRD",
            "garden",
            9.0,
            "planter, watering can, bird feeder, plant pot, trowel, seed tin, garden sign, "
            "hanging basket, wind chime",
            "garden outdoor zinc terracotta herb",
        ),
        (
            "STA",
            "stationery",
            2.5,
            "notebook, pencil set, greeting card, wrapping paper, envelope pack, journal, "
            "sticker sheet, memo pad, bookmark",
            "kraft lined stationery floral letterpress",
        ),
        (
            "TOY",
            "toys",
            7.0,
            "jigsaw puzzle, spinning top, kite, rag doll, building blocks, skipping rope, "
            "toy car, hand puppet, marble set",
            "wooden kids playful toy retro",
        ),
        (
            "BAG",
            "bags",
            10.0,
            "tote bag, shopping bag, lunch bag, backpack, purse, wash bag, jumbo bag, "
            "picnic basket",
            "jute canvas recycled woven travel",
        ),
        (
            "JWL",
            "jewellery",
            15.0,
            "necklace, bracelet, earrings, ring, brooch, hair clip, pendant, charm",
            "beaded crystal sterling diamante jewelled",
        ),
        (
            "BTH",
            "bath",
            5.0,
            "soap bar, bath salts, hand towel, sponge, bath bomb, loofah, soap dish, "
            "toothbrush holder",
            "lavender scented organic spa bath",
        ),
        (
            "PTY",
            "party",
            2.0,
            "balloons, paper napkins, bunting, party cups, paper plates, cake toppers, "
            "party bags, streamers",
            "party birthday confetti celebration disco",
        ),
    )
)

_COLOURS = ("red", "blue", "green", "pink", "white", "black", "gold", "silver", "ivory", "pastel")
_CHANNELS = ("web", "app", "store")
_COUNTRIES = (
    "United Kingdom",
    "Germany",
    "France",
    "Netherlands",
    "Spain",
    "Ireland",
    "Belgium",
    "Italy",
)
_COUNTRY_WEIGHTS = (0.55, 0.12, 0.10, 0.06, 0.06, 0.05, 0.03, 0.03)


@dataclass(frozen=True)
class Archetype:
    """Behavioural parameters of one planted customer segment.

    Parameters
    ----------
    name : str
        Segment name written to the labels table.
    weight : float
        Default share of customers.
    description : str
        One line describing the behaviour.
    first_days : tuple of (float, float or None)
        Range of the first purchase, in days before the end of the period (uniform);
        ``None`` as upper bound means the start of the period. Seasonal archetypes ignore
        it: they first buy in a gift season that ends at least 180 days before the end.
    stop_days : tuple of (float, float)
        Range of the day the customer stops buying, in days before the end; ``(0, 0)`` means
        still active.
    gap_days : float
        Median over customers of the mean gap between orders, in (seasonal-clock) days.
    gap_sigma : float
        Log-normal spread of the customers' mean gaps.
    regularity : float
        Gamma shape of the gaps: 1 is memoryless, larger is more regular.
    max_orders : int or None
        Cap on the number of orders (new customers).
    seasonal : bool
        Buy in the November-December gift season instead of following the renewal process.
    extra_lines : float
        Lines per order are ``1 + Poisson(extra_lines)``.
    extra_units : float
        Quantity per line is ``1 + Poisson(extra_units)``.
    price_position : tuple of (float, float)
        Beta parameters of the product's price rank within its category (0 cheapest).
    category_mix : dict of str to float
        Relative weight of each category name; categories not named weigh 0.02, and an
        empty mix means all categories alike.
    mix_concentration : float
        Dirichlet concentration of the customers' own mixes around ``category_mix``
        (small values give more varied customers).
    return_rate : float
        Mean probability that a line is returned.
    channel_probs : tuple of float
        Probabilities of the customer's main channel among ``("web", "app", "store")``.
    age_mean : float
        Mean age in years.
    """

    name: str
    weight: float
    description: str
    first_days: tuple[float, float | None]
    stop_days: tuple[float, float] = (0.0, 0.0)
    gap_days: float = 30.0
    gap_sigma: float = 0.3
    regularity: float = 1.0
    max_orders: int | None = None
    seasonal: bool = False
    extra_lines: float = 1.5
    extra_units: float = 0.5
    price_position: tuple[float, float] = (1.0, 1.0)
    category_mix: dict[str, float] = field(default_factory=dict)
    mix_concentration: float = 10.0
    return_rate: float = 0.04
    channel_probs: tuple[float, float, float] = (0.5, 0.3, 0.2)
    age_mean: float = 40.0


#: The planted archetypes, by name. Sizes are unequal on purpose; lapsed big spenders stop
#: buying 250-420 days before the end, new customers first buy in the last 60 days and gift
#: buyers buy in November-December (first in a season at least 180 days before the end).
ARCHETYPES: dict[str, Archetype] = {
    a.name: a
    for a in (
        Archetype(
            "Champions",
            0.10,
            "recent, frequent (every ~3 weeks), regular, high order value, broad category mix",
            first_days=(180.0, None),
            gap_days=21.0,
            gap_sigma=0.25,
            regularity=4.0,
            extra_lines=1.5,
            extra_units=1.3,
            price_position=(3.0, 1.0),
            mix_concentration=20.0,
            return_rate=0.03,
            channel_probs=(0.5, 0.4, 0.1),
            age_mean=38.0,
        ),
        Archetype(
            "Lapsed big spenders",
            0.08,
            "were regular with high order values, but stopped 8-14 months before the end",
            first_days=(520.0, None),
            stop_days=(250.0, 420.0),
            gap_days=30.0,
            gap_sigma=0.25,
            regularity=4.0,
            extra_lines=2.0,
            extra_units=0.8,
            price_position=(3.0, 1.2),
            category_mix={
                "home": 1.0,
                "jewellery": 1.0,
                "bags": 1.0,
                "kitchen": 0.6,
                "garden": 0.6,
            },
            return_rate=0.05,
            channel_probs=(0.6, 0.1, 0.3),
            age_mean=50.0,
        ),
        Archetype(
            "New customers",
            0.10,
            "first purchase within the last 60 days, one to three orders",
            first_days=(1.0, 59.0),
            gap_days=18.0,
            gap_sigma=0.3,
            regularity=1.0,
            max_orders=3,
            extra_lines=1.5,
            extra_units=0.5,
            price_position=(1.5, 1.5),
            mix_concentration=2.0,
            return_rate=0.03,
            channel_probs=(0.4, 0.5, 0.1),
            age_mean=30.0,
        ),
        Archetype(
            "Bargain hunters",
            0.22,
            "frequent small orders of many cheap items, many returns",
            first_days=(90.0, None),
            gap_days=40.0,
            gap_sigma=0.3,
            regularity=1.2,
            extra_lines=0.7,
            extra_units=2.5,
            price_position=(1.0, 5.0),
            category_mix={
                "stationery": 1.0,
                "party": 1.0,
                "bath": 0.8,
                "kitchen": 0.5,
                "toys": 0.4,
            },
            mix_concentration=6.0,
            return_rate=0.25,
            channel_probs=(0.45, 0.5, 0.05),
            age_mean=33.0,
        ),
        Archetype(
            "Seasonal gift buyers",
            0.15,
            "buy (almost) only in November-December, mostly christmas and gift items",
            first_days=(180.0, None),
            seasonal=True,
            extra_lines=2.0,
            extra_units=0.8,
            price_position=(1.5, 1.5),
            category_mix={"christmas": 1.0, "toys": 0.08, "jewellery": 0.06, "stationery": 0.04},
            mix_concentration=40.0,
            return_rate=0.04,
            channel_probs=(0.55, 0.2, 0.25),
            age_mean=47.0,
        ),
        Archetype(
            "Occasional home shoppers",
            0.35,
            "a few orders a year of mid value, mostly home furnishings",
            first_days=(240.0, None),
            gap_days=100.0,
            gap_sigma=0.3,
            regularity=2.0,
            extra_lines=0.8,
            extra_units=0.4,
            price_position=(1.2, 1.8),
            category_mix={"home": 1.0, "garden": 0.12, "kitchen": 0.1},
            mix_concentration=15.0,
            return_rate=0.05,
            channel_probs=(0.3, 0.1, 0.6),
            age_mean=45.0,
        ),
    )
}

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
_DAY = 86_400
# Orders are placed between 08:00 and 22:00.
_OPEN_S, _OPEN_HOURS_S = 8 * 3600, 14 * 3600
# Seasonal clock: relative order intensity by calendar month (Q4 peak, January lull).
_MONTH_INTENSITY = np.array([0.85, 0.9, 1.0, 1.0, 1.0, 0.95, 0.95, 1.0, 1.0, 1.15, 1.5, 1.6])
# Gift season: 1 November up to (not including) 23 December.
_SEASON = ((11, 1), (12, 23))


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
    catalog = _make_catalog(rng)
    archetype = _assign_archetypes(rng, weights, n_customers)
    arch_list = list(ARCHETYPES.values())

    customer_ids = _format_ids("C", np.arange(1, n_customers + 1), 7)
    country = rng.choice(len(_COUNTRIES), size=n_customers, p=_COUNTRY_WEIGHTS)
    age_mean = np.array([a.age_mean for a in arch_list])[archetype]
    age = np.clip(np.rint(rng.normal(age_mean, 11.0)), 18, 85).astype(np.int64)
    channel_cum = np.cumsum([a.channel_probs for a in arch_list], axis=1)[archetype]
    main_channel = (rng.random(n_customers)[:, None] > channel_cum[:, :-1]).sum(axis=1)

    clock = _SeasonalClock(start_day, n_days)
    countries = pa.array(_COUNTRIES)
    batches = []
    order_offset = 0
    n_chunks = -(-n_customers // _CHUNK)
    for lo, child in zip(range(0, n_customers, _CHUNK), chunk_seed.spawn(n_chunks), strict=True):
        hi = min(lo + _CHUNK, n_customers)
        batch, n_orders = _simulate_chunk(
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
    channels = pa.array(_CHANNELS)
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


def _format_ids(prefix: str | pa.Array, numbers: np.ndarray, width: int) -> pa.Array:
    """Zero-padded string ids such as ``C0000001`` (Arrow kernels, no Python loop)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


@dataclass(frozen=True)
class _Catalog:
    """Products sorted by category, then price; ``start``/``size`` index each category."""

    product_id: pa.Array
    description: pa.Array
    category: np.ndarray
    price: np.ndarray
    start: np.ndarray
    size: np.ndarray


def _make_catalog(rng: np.random.Generator) -> _Catalog:
    """Draw 20-60 products per category with log-normal prices around its level."""
    ids, descriptions, categories, prices, sizes = [], [], [], [], []
    for k, cat in enumerate(CATEGORIES):
        size = int(rng.integers(20, 61))
        price = np.sort(np.round(cat.price_level * rng.lognormal(0.0, 0.45, size), 2))
        price = np.maximum(price, 0.19)
        # Product numbers are shuffled so the id says nothing about the price.
        numbers = rng.permutation(size) + 1
        words = rng.integers(0, len(cat.words), size)
        colours = rng.integers(0, len(_COLOURS), size)
        for j in range(size):
            ids.append(f"{cat.code}-{numbers[j]:04d}")
            text = f"{cat.words[words[j]]} {cat.nouns[j % len(cat.nouns)]} {_COLOURS[colours[j]]}"
            descriptions.append(text[0].upper() + text[1:])
        categories.append(np.full(size, k))
        prices.append(price)
        sizes.append(size)
    size = np.array(sizes)
    return _Catalog(
        product_id=pa.array(ids),
        description=pa.array(descriptions),
        category=np.concatenate(categories),
        price=np.concatenate(prices),
        start=np.cumsum(size) - size,
        size=size,
    )


class _SeasonalClock:
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
    rng: np.random.Generator, clock: _SeasonalClock, archetype: np.ndarray, who: np.ndarray
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
    rng: np.random.Generator, clock: _SeasonalClock, who: np.ndarray
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


def _simulate_chunk(
    rng: np.random.Generator,
    archetype: np.ndarray,
    main_channel: np.ndarray,
    clock: _SeasonalClock,
    catalog: _Catalog,
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
        rng.random(n_orders) < 0.8, main_channel[cust], rng.integers(0, len(_CHANNELS), n_orders)
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
            _format_ids(pc.if_else(pa.array(is_return), "R", "O"), order_number, 8),
            pa.array(ts),
            catalog.product_id.take(pa.array(prod)),
            catalog.description.take(pa.array(prod)),
            cat_col,
            pa.array(qty),
            pa.array(price),
            pa.array(qty * price),
            pa.array(_CHANNELS).take(pa.array(channel[line_order[row]])),
            pa.array(is_return),
            country.take(local),
        ],
        schema=TRANSACTIONS_SCHEMA,
    )
    return batch, n_orders
