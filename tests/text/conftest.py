"""Text tests run offline (no hub downloads) and share BANKING77 from ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    # any attempt to reach the Hugging Face hub fails fast instead of downloading
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def banking77(shared_data: Path) -> dict[str, pd.DataFrame]:
    """BANKING77's train and test splits (columns ``text``, ``category``); skips when absent."""
    folder = shared_data / "banking77"
    paths = {split: folder / f"{split}.csv.gz" for split in ("train", "test")}
    for path in paths.values():
        if not path.is_file():
            pytest.skip(f"{path} not found; the BANKING77 text tests need it")
    return {split: pd.read_csv(path) for split, path in paths.items()}
