"""Data sets: the synthetic generator with planted segments."""

from segmint.datasets.synthetic import (
    ARCHETYPES,
    CATEGORIES,
    TRANSACTIONS_SCHEMA,
    Archetype,
    Category,
    SyntheticData,
    generate,
    write,
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
]
