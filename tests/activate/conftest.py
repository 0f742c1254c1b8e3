"""Segmented workspaces built once per session: a shop (copied by tests that write), and one
whose customers have contact details."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from segmint import pipeline
from segmint.datasets import generate
from segmint.datasets import write as write_dataset
from segmint.store.workspace import Workspace


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A segmented workspace whose customers have email addresses (phones for a third)."""
    root = tmp_path_factory.mktemp("playbooks")
    data = generate(400, seed=2)
    files = write_dataset(data, root / "data", fmt="csv")
    ids = data.customers.to_pandas()["customer_id"].tolist()
    lines = ["identifier,kind,customer_id"]
    lines += [f"{c.lower()}@example.com,email,{c}" for c in ids]
    lines += [f"+4420794600{i:02d},phone,{c}" for i, c in enumerate(ids[::3])]
    (root / "identities.csv").write_text("\n".join(lines) + "\n")
    ws = Workspace(root / "ws")
    pipeline.ingest(ws, files["transactions"], customers=files["customers"])
    pipeline.ingest_source(ws, "identities", root / "identities.csv")
    pipeline.segment(ws, as_of=data.as_of, random_state=0, write_html=False)
    return ws.path


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
