"""``segmint settings``: print the workspace settings, set the currency, refuse a bad code."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from segmint.cli import app
from segmint.store.settings import get_setting
from segmint.store.workspace import Workspace

runner = CliRunner()


def test_set_then_show_currency(tmp_path):
    ws = str(tmp_path / "ws")
    done = runner.invoke(app, ["settings", "--currency", "eur", "-w", ws])
    assert done.exit_code == 0, done.output
    assert "EUR" in done.stdout
    with Workspace(ws).connect(read_only=True) as con:
        assert get_setting(con, "currency") == "EUR"
    shown = runner.invoke(app, ["settings", "-w", ws])
    assert shown.exit_code == 0
    assert "currency" in shown.stdout and "EUR" in shown.stdout
    as_json = runner.invoke(app, ["settings", "-w", ws, "--json"])
    assert json.loads(as_json.stdout) == {"currency": "EUR"}


def test_unset_currency_says_how_to_set_it(tmp_path):
    ws = str(tmp_path / "ws")
    with Workspace(ws).connect(create=True):
        pass
    shown = runner.invoke(app, ["settings", "-w", ws])
    assert shown.exit_code == 0
    assert "not set" in shown.stdout and "--currency EUR" in shown.stdout


def test_bad_currency_is_one_line_naming_the_option(tmp_path):
    ws = str(tmp_path / "ws")
    done = runner.invoke(app, ["settings", "--currency", "EURO", "-w", ws])
    assert done.exit_code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "--currency" in lines[0] and "3-letter ISO 4217 code" in lines[0]
    assert not (tmp_path / "ws").exists()  # nothing created for a refused value
