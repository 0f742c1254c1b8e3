"""A segmented workspace whose customers have contact details, built once per session."""

from __future__ import annotations

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
