"""Shared fixtures: tiny files in every format, temporary workspaces, the shared data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public datasets beside the checkout (skips when absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}; these tests need ../shared/data")
    return SHARED_DATA


def _shared_file(path: Path, tests: str) -> Path:
    if not path.is_file():
        pytest.skip(f"{path} not found; the {tests} tests need it")
    return path


@pytest.fixture(scope="session")
def online_retail_csv(shared_data: Path) -> Path:
    return _shared_file(shared_data / "online-retail-uci" / "online_retail.csv.gz", "Online Retail")


RETAIL_CSV = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,17850.0,United Kingdom
536367,84879,ASSORTED COLOUR BIRD ORNAMENT,32,2010-12-01 08:34:00,1.69,13047.0,United Kingdom
536368,22960,JAM MAKING SET WITH JARS,6,2010-12-01 08:34:00,4.25,13047.0,United Kingdom
C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom
536380,22961,JAM MAKING SET PRINTED,24,2010-12-01 09:41:00,1.45,14527.0,United Kingdom
536381,22139,RETROSPOT TEA SET CERAMIC,1,2010-12-01 09:45:00,4.95,,United Kingdom
536382,22139,RETROSPOT TEA SET CERAMIC,1,not a date,4.95,15311.0,United Kingdom
536383,22139,RETROSPOT TEA SET CERAMIC,two,2010-12-01 09:50:00,4.95,15311.0,United Kingdom
536384,22139,RETROSPOT TEA SET CERAMIC,1,2010-12-01 09:55:00,4.95,15311.0,United Kingdom
536384,22139,RETROSPOT TEA SET CERAMIC,1,2010-12-01 09:55:00,4.95,15311.0,United Kingdom
"""


@pytest.fixture(scope="session")
def cdnow_sample(shared_data: Path) -> Path:
    return _shared_file(shared_data / "cdnow" / "CDNOW_sample.txt.gz", "CDNOW")


@pytest.fixture(scope="session")
def cdnow_master(shared_data: Path) -> Path:
    return _shared_file(shared_data / "cdnow" / "CDNOW_master.txt.gz", "CDNOW")


@pytest.fixture
def retail_csv(tmp_path: Path) -> Path:
    """A small file in the UCI Online Retail layout with one bad row of each kind."""
    path = tmp_path / "retail.csv"
    path.write_text(RETAIL_CSV, encoding="utf-8")
    return path


@pytest.fixture
def workspace(tmp_path: Path):
    from segmint.store.workspace import Workspace

    return Workspace(tmp_path / "ws")
