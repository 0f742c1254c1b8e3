"""A small segmented workspace (synthetic shop), built once and copied by tests that write."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shop(tmp_path_factory) -> tuple[Path, object]:
    """A workspace of 600 synthetic customers with one run (no predictions), and the data."""
    from segmint import pipeline
    from segmint.datasets import generate
    from segmint.datasets import write as write_dataset
    from segmint.store.workspace import Workspace

    path = tmp_path_factory.mktemp("shop") / "ws"
    data = generate(600, seed=0)
    files = write_dataset(data, path.parent / "data", fmt="parquet")
    ws = Workspace(path)
    pipeline.ingest(ws, files["transactions"], customers=files["customers"])
    pipeline.segment(ws, as_of=data.as_of, random_state=0, write_html=False)
    return path, data


@pytest.fixture
def shop_copy(shop, tmp_path) -> Path:
    """A copy of the shop workspace a test may change."""
    dest = tmp_path / "ws"
    shutil.copytree(shop[0], dest)
    return dest
