"""Settings read from the environment (``SEGMINT_`` prefix), cached."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from segmint.errors import SegmintError

#: share of the machine's memory DuckDB may use by default: the rest is for the Python side of
#: a run (feature frames, the space, assignments), which at 10M customers needs several GB
MEMORY_SHARE = 0.4

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


def machine_memory() -> int:
    """Bytes of memory this process may use: physical memory, or a smaller cgroup limit."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


class Settings(BaseSettings):
    """Process-wide defaults; every one can be overridden per call."""

    model_config = SettingsConfigDict(env_prefix="SEGMINT_")

    workspace: Path = Path("segmint-workspace")
    random_state: int = 0
    #: DuckDB's memory cap (beyond it, work spills to WORKSPACE/.tmp): a size such as "8GB" or
    #: "6GiB", or a share of the machine's memory such as "60%"; None: ``MEMORY_SHARE`` of it
    memory_limit: str | None = None

    @field_validator("memory_limit")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None and not _SIZE.match(value):
            msg = (
                f"must be a size such as 8GB, 6GiB or 512MB, or a share of the machine's "
                f"memory such as 60%; got {value!r}"
            )
            raise ValueError(msg)
        return value


def duckdb_memory_limit(setting: str | None) -> str:
    """The value for DuckDB's ``memory_limit``: a share of the machine turned into MiB."""
    share = MEMORY_SHARE
    if setting is not None:
        number, unit = _SIZE.match(setting).groups()
        if unit != "%":
            return f"{number}{unit}"
        share = float(number) / 100
    return f"{max(64, int(share * machine_memory() / 2**20))}MiB"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings, read once from the environment.

    Raises
    ------
    SegmintError
        When a ``SEGMINT_*`` variable holds a value the setting cannot take.
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"SEGMINT_{str(e['loc'][0]).upper()}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise SegmintError(f"bad environment setting: {problems}") from None
