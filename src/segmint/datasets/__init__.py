"""Data sets: the synthetic generator with planted segments."""

from segmint.datasets.archetypes import ARCHETYPES, CATEGORIES, Archetype, Category
from segmint.datasets.sources import PERSONAS, Persona, SourcesData, generate_sources, write_sources
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
    "PERSONAS",
    "TRANSACTIONS_SCHEMA",
    "Archetype",
    "Category",
    "Persona",
    "SourcesData",
    "SyntheticData",
    "generate",
    "generate_sources",
    "write",
    "write_sources",
    "write_stream",
]
