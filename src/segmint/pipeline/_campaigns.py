"""Campaigns: members fixed with a deterministic holdout at creation, lift measured later."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pandas as pd

from segmint.activate import lift
from segmint.activate.campaigns import check_name, holdout_sql, outcomes_sql, parse_share
from segmint.activate.selection import select
from segmint.consent.audit import local_actor, record
from segmint.consent.pseudonym import destination_key
from segmint.errors import SegmintError
from segmint.store.runs import get_run
from segmint.store.workspace import Workspace, utcnow


def campaign_key(name: str) -> str:
    """The pseudonym destination whose key draws a campaign's holdout."""
    return f"campaign:{name}"


def create_campaign(
    workspace: Workspace,
    name: str,
    segment: str,
    *,
    holdout: str | float = "10%",
    start: datetime | None = None,
    run_id: int | None = None,
    actor: str | None = None,
) -> dict:
    """Fix a campaign's members (the customers ``segment`` names now) and draw its holdout.

    ``start`` defaults to the latest purchase in the workspace (so that historical data can
    be measured), or now without purchases. One transaction; the name must be new.
    """
    check_name(name)
    share = parse_share(holdout)
    with workspace.transaction() as con:
        if con.execute("SELECT count(*) FROM campaigns WHERE name = ?", [name]).fetchall()[0][0]:
            raise SegmintError(f"campaign {name!r} exists; choose another name")
        run = get_run(con, run_id)
        chosen = select(con, run["run_id"], segment)
        if start is None:
            latest = con.execute("SELECT max(ts) FROM transactions").fetchall()[0][0]
            start = latest or utcnow()
        draw, params = holdout_sql(destination_key(con, workspace.path, campaign_key(name)))
        con.execute(
            f"""INSERT INTO campaign_members
                SELECT ?, customer_id, {draw} < ? FROM ({chosen.members})""",
            [name, *params, share, *chosen.params],
        )
        treated, held = con.execute(
            "SELECT count(*) FILTER (WHERE NOT holdout), count(*) FILTER (WHERE holdout) "
            "FROM campaign_members WHERE name = ?",
            [name],
        ).fetchall()[0]
        if not treated + held:
            raise SegmintError(f"segment {segment!r} ({chosen.label}) has no customers")
        con.execute(
            "INSERT INTO campaigns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                name,
                run["run_id"],
                chosen.kind,
                chosen.key,
                chosen.label,
                share,
                utcnow(),
                start,
                treated,
                held,
            ],
        )
        record(
            con,
            workspace.path,
            actor=actor or local_actor(),
            action="campaign.create",
            purpose="analytics",
            target=f"campaign {name} ({chosen.label}, run {run['run_id']})",
            rows=treated + held,
            detail={"holdout_share": share, "holdout": held, "starts_at": str(start)},
        )
    return {
        "name": name,
        "segment": chosen.label,
        "run_id": run["run_id"],
        "holdout_share": share,
        "treated": int(treated),
        "holdout": int(held),
        "starts_at": start.isoformat(sep=" "),
    }


def campaign(con, name: str) -> dict:
    rows = con.execute(
        """SELECT name, run_id, selection_kind, selection_key, selection_label, holdout_share,
                  created_at, starts_at, treated, holdout FROM campaigns WHERE name = ?""",
        [name],
    ).fetchall()
    if not rows:
        known = [r[0] for r in con.execute("SELECT name FROM campaigns ORDER BY 1").fetchall()]
        raise SegmintError(f"no campaign {name!r}; campaigns: {', '.join(known) or 'none'}")
    keys = ("name", "run_id", "kind", "key", "label", "holdout_share", "created_at",
            "starts_at", "treated", "holdout")  # fmt: skip
    return dict(zip(keys, rows[0], strict=True))


def measure_campaign(
    workspace: Workspace, name: str, *, days: int = 30, effect: float = 0.1
) -> dict:
    """Treated against holdout over the ``days`` after the campaign's start: conversion,
    revenue per customer and retention, each with its lift, 95% interval and p-value, and the
    holdout size ``effect`` (relative lift in conversion) would need. Stored with the
    campaign; ``complete`` is False while the data does not reach the window's end."""
    if days < 1:
        raise SegmintError(f"--days must be at least 1, got {days}")
    if not -0.99 < effect <= 10 or effect == 0:
        raise SegmintError(f"--effect must be a non-zero relative lift (0.1 = 10%), got {effect}")
    with workspace.transaction() as con:
        found = campaign(con, name)
        start = found["starts_at"]
        end = start + timedelta(days=days)
        before = start - timedelta(days=days)
        data_end = con.execute("SELECT max(ts) FROM transactions").fetchall()[0][0]
        if data_end is None or data_end < start:
            raise SegmintError(
                f"the workspace holds no purchases after campaign {name!r} started "
                f"({start:%Y-%m-%d %H:%M}); measuring reads them from the workspace: ingest "
                "them first (segmint ingest transactions FILE)"
            )
        outcomes = con.execute(outcomes_sql(), [start, end, before, start, name]).df()
        metrics = lift.measure(outcomes, effect=effect)
        complete = data_end is not None and data_end >= end
        con.execute(
            "INSERT INTO campaign_results VALUES (?, ?, ?, ?, ?)",
            [name, utcnow(), days, complete, json.dumps(metrics)],
        )
    return {
        "name": name,
        "segment": found["label"],
        "starts_at": start.isoformat(sep=" "),
        "ends_at": end.isoformat(sep=" "),
        "days": days,
        "complete": complete,
        "data_end": data_end.isoformat(sep=" ") if data_end else None,
        **metrics,
    }


def list_campaigns(workspace: Workspace) -> pd.DataFrame:
    """Every campaign with its latest measurement (NULL before the first)."""
    with workspace.connect(read_only=True) as con:
        return load_campaigns(con)


def load_campaigns(con) -> pd.DataFrame:
    """Campaigns and their latest measurement, from a workspace connection."""
    known = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'campaigns'"
    ).fetchall()[0][0]
    if not known:
        return pd.DataFrame()
    return con.execute(
        """SELECT c.name, c.selection_label AS segment, c.run_id, c.holdout_share,
                  c.starts_at, c.treated, c.holdout, r.days, r.complete, r.measured_at,
                  r.metrics
           FROM campaigns c
           LEFT JOIN (
               SELECT name, arg_max(days, measured_at) AS days,
                      arg_max(complete, measured_at) AS complete,
                      max(measured_at) AS measured_at, arg_max(metrics, measured_at) AS metrics
               FROM campaign_results GROUP BY name
           ) r USING (name)
           ORDER BY c.created_at, c.name"""
    ).df()
