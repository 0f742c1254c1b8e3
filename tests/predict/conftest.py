from pathlib import Path

import pytest

CDNOW_DIR = Path("/work/shared/data/cdnow")


@pytest.fixture(scope="session")
def cdnow_summary():
    path = CDNOW_DIR / "CDNOW_sample.txt.gz"
    if not path.exists():
        pytest.skip(f"CDNOW data not found at {path} (see /work/shared/data/cdnow/README.md)")
    from segmint.datasets.cdnow import cdnow_rfm_summary, load_cdnow

    return cdnow_rfm_summary(load_cdnow(path))
