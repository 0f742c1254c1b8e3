"""Data sets: the synthetic generator with planted segments."""

from segmint.datasets.archetypes import ARCHETYPES, CATEGORIES, Archetype, Category
from segmint.datasets.synthetic import (
    TRANSACTIONS_SCHEMA,
    SyntheticData,
    generate,
    write,
    write_stream,
)

__all__ = [
    "ARCHETYPES",
    "CATEGORIES",
    "TRANSACTIONS_SCHEMA",
    "Archetype",
    "Category",
    "SyntheticData",
    "generate",
    "write",
    "write_stream",
]
