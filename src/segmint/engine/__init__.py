"""Where features run: DuckDB (the default) or Apache Spark, behind one small interface.

A feature query is written once in Ibis; where Ibis does not compile an operation the same
way on both engines (hashes, list functions, JSON), it calls the :class:`Engine`'s own
version. :func:`engine_for` turns what a caller holds (a DuckDB connection, a SparkSession
or an engine) into an engine; :func:`spark_session` and :func:`read_tables` set Spark up.
"""

from __future__ import annotations

from segmint.engine._base import Engine
from segmint.engine._duckdb import DuckDBEngine
from segmint.engine._spark import EngineError, SparkEngine, read_tables, spark_session

__all__ = [
    "DuckDBEngine",
    "Engine",
    "EngineError",
    "SparkEngine",
    "engine_for",
    "read_tables",
    "spark_session",
]


def engine_for(con) -> Engine:
    """The engine over ``con``: an :class:`Engine` itself, a SparkSession or a DuckDB
    connection."""
    if isinstance(con, Engine):
        return con
    # by module name: PySpark is optional and need not be importable
    if type(con).__module__.startswith("pyspark."):
        return SparkEngine(con)
    return DuckDBEngine(con)
