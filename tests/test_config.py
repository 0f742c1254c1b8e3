"""Settings from the environment: DuckDB's memory cap is a share of the machine by default."""

from __future__ import annotations

import re

import pytest

from segmint.config import MEMORY_SHARE, duckdb_memory_limit, get_settings, machine_memory
from segmint.errors import SegmintError
from segmint.store.workspace import Workspace


@pytest.fixture
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _mib(limit: str) -> int:
    return int(re.fullmatch(r"(\d+)MiB", limit).group(1))


def test_default_is_a_share_of_the_machine(monkeypatch, fresh_settings):
    monkeypatch.delenv("SEGMINT_MEMORY_LIMIT", raising=False)
    limit = duckdb_memory_limit(get_settings().memory_limit)
    assert _mib(limit) == int(MEMORY_SHARE * machine_memory() / 2**20)
    assert 0 < machine_memory() <= 2**50


def test_a_percentage_and_a_size_override_it(monkeypatch, fresh_settings):
    monkeypatch.setenv("SEGMINT_MEMORY_LIMIT", "60%")
    sixty = _mib(duckdb_memory_limit(get_settings().memory_limit))
    assert sixty == int(0.6 * machine_memory() / 2**20)
    assert duckdb_memory_limit("6GiB") == "6GiB"
    assert duckdb_memory_limit("512 mb") == "512mb"


def test_duckdb_runs_under_the_limit(tmp_path, monkeypatch, fresh_settings):
    monkeypatch.setenv("SEGMINT_MEMORY_LIMIT", "300MiB")
    with Workspace(tmp_path / "ws").connect(create=True) as con:
        ((setting,),) = con.execute("SELECT current_setting('memory_limit')").fetchall()
    assert setting in {"300.0 MiB", "314.5 MB"}


@pytest.mark.parametrize("value", ["lots", "4 parsecs", "-1GB", "60"])
def test_a_bad_value_names_the_variable(monkeypatch, fresh_settings, value):
    monkeypatch.setenv("SEGMINT_MEMORY_LIMIT", value)
    with pytest.raises(SegmintError, match=r"SEGMINT_MEMORY_LIMIT: must be a size .* got"):
        get_settings()
