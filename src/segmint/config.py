"""Settings read from the environment (``SEGMINT_`` prefix), cached."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide defaults; every one can be overridden per call."""

    model_config = SettingsConfigDict(env_prefix="SEGMINT_")

    workspace: Path = Path("segmint-workspace")
    random_state: int = 0
    #: DuckDB's memory cap; beyond it, big ingests spill to WORKSPACE/.tmp instead of growing
    memory_limit: str = "4GB"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings, read once from the environment."""
    return Settings()
