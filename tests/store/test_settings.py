"""Workspace settings: stored by name as JSON, the currency checked, the consent policy kept."""

from __future__ import annotations

import pytest

from segmint.consent.policy import ConsentPolicy, load_policy, save_policy
from segmint.errors import DataValidationError
from segmint.store.settings import all_settings, check_currency, get_setting, set_setting
from segmint.store.workspace import Workspace


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return Workspace(tmp_path / "ws")


def test_currency_is_upper_cased_and_stored(ws):
    with ws.connect(create=True) as con:
        assert get_setting(con, "currency") is None
        assert get_setting(con, "currency", "n/a") == "n/a"
        assert set_setting(con, "currency", "eur") == "EUR"
    with ws.connect(read_only=True) as con:
        assert get_setting(con, "currency") == "EUR"
        set_value = all_settings(con)
    assert set_value == {"currency": "EUR"}


@pytest.mark.parametrize("bad", ["EURO", "E1R", "", "€", None, "us"])
def test_bad_currency_is_refused_and_nothing_stored(ws, bad):
    with ws.connect(create=True) as con:
        with pytest.raises(DataValidationError, match="3-letter ISO 4217 code"):
            set_setting(con, "currency", bad)
        assert get_setting(con, "currency") is None


def test_check_currency_strips_spaces():
    assert check_currency(" gbp ") == "GBP"


def test_consent_policy_still_round_trips_beside_the_currency(ws):
    policy = ConsentPolicy(regimes={"email": "opt-in"}, min_audience=20)
    with ws.connect(create=True) as con:
        set_setting(con, "currency", "USD")
        save_policy(con, policy)
        assert load_policy(con) == policy
        assert set(all_settings(con)) == {"currency", "consent_policy"}
        assert get_setting(con, "currency") == "USD"
