"""The one customers upsert: first_seen only moves earlier; a customers file replaces country
and attributes, transactions and events only fill what is missing."""

from __future__ import annotations

from segmint.store.customers import upsert_customers
from segmint.store.workspace import Workspace


def _rows(con) -> dict:
    got = con.execute(
        "SELECT customer_id, first_seen::VARCHAR, country, attributes::VARCHAR FROM customers"
    ).fetchall()
    return {r[0]: r[1:] for r in got}


def test_fill_then_replace(tmp_path):
    with Workspace(tmp_path / "ws").transaction(create=True) as con:
        upsert_customers(
            con,
            "SELECT 'a', TIMESTAMP '2024-02-01', 'FR', NULL "
            "UNION ALL SELECT 'b', TIMESTAMP '2024-02-01', NULL, NULL",
        )
        # a later mention: earlier first_seen wins, the known country stays, gaps are filled
        upsert_customers(
            con,
            "SELECT 'a', TIMESTAMP '2024-01-01', 'DE', NULL "
            "UNION ALL SELECT 'b', TIMESTAMP '2024-03-01', 'IT', NULL",
        )
        assert _rows(con) == {
            "a": ("2024-01-01 00:00:00", "FR", None),
            "b": ("2024-02-01 00:00:00", "IT", None),
        }
        # a customers file is authoritative where it gives a value, and keeps the rest
        upsert_customers(
            con,
            "SELECT 'a', NULL, 'ES', '{\"tier\": \"gold\"}' "
            "UNION ALL SELECT 'c', TIMESTAMP '2023-05-05', NULL, NULL",
            authoritative=True,
        )
        assert _rows(con) == {
            "a": ("2024-01-01 00:00:00", "ES", '{"tier": "gold"}'),
            "b": ("2024-02-01 00:00:00", "IT", None),
            "c": ("2023-05-05 00:00:00", None, None),
        }


def test_the_same_rows_again_change_nothing(tmp_path):
    rows = (
        "SELECT 'a', TIMESTAMP '2024-02-01', 'FR', '{\"tier\": \"gold\"}' "
        "UNION ALL SELECT 'b', NULL, NULL, NULL"
    )
    with Workspace(tmp_path / "ws").transaction(create=True) as con:
        for authoritative in (False, True, True, False):
            upsert_customers(con, rows, authoritative=authoritative)
            assert _rows(con) == {
                "a": ("2024-02-01 00:00:00", "FR", '{"tier": "gold"}'),
                "b": (None, None, None),
            }
