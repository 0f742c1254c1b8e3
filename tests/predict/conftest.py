import pytest


@pytest.fixture(scope="session")
def cdnow_summary(cdnow_sample):
    from segmint.datasets.cdnow import cdnow_rfm_summary, load_cdnow

    return cdnow_rfm_summary(load_cdnow(cdnow_sample))
