"""The synthetic retailer's parameters: product categories and planted customer archetypes.

Data only (frozen dataclasses and the tables of them); :mod:`segmint.datasets.synthetic`
simulates customers, orders and returns from these parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ARCHETYPES",
    "CATEGORIES",
    "CHANNELS",
    "COLOURS",
    "COUNTRIES",
    "COUNTRY_WEIGHTS",
    "Archetype",
    "Category",
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

COLOURS = ("red", "blue", "green", "pink", "white", "black", "gold", "silver", "ivory", "pastel")
CHANNELS = ("web", "app", "store")
COUNTRIES = (
    "United Kingdom",
    "Germany",
    "France",
    "Netherlands",
    "Spain",
    "Ireland",
    "Belgium",
    "Italy",
)
COUNTRY_WEIGHTS = (0.55, 0.12, 0.10, 0.06, 0.06, 0.05, 0.03, 0.03)


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
