"""Live state of the service: per-customer profiles, the latest run's model and membership.

Hot-path state is kept in arrays (membership, confidence) and in the realtime ``ProfileStore``;
no per-customer Python objects. Everything here runs on the event loop thread, except
:meth:`LiveState.load`, which the service runs in a worker thread before swapping states.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import numpy as np

from segmint.engine import engine_for
from segmint.errors import WorkspaceError
from segmint.features.identity import purchases_by_person, resolve_identities
from segmint.realtime.live_sources import LiveSources, as_of_of, beyond_purchases
from segmint.realtime.profile_load import profiles_from_workspace
from segmint.segment.persist import segmenter_from_dict
from segmint.store.runs import get_run, load_micro_segments, load_model, load_segments

UNASSIGNED = -1


@dataclass
class Change:
    """A customer whose segment changed because of an event."""

    customer_id: str
    old_segment: int | None
    new_segment: int | None
    confidence: float | None
    ts: str


@dataclass
class LiveState:
    """The state events are applied to; one per loaded run (``run_id`` None: no run yet)."""

    run_id: int | None = None
    run_as_of: datetime | None = None
    clock: np.datetime64 | None = None
    segments: dict[int, dict] = field(default_factory=dict)
    #: the run's described micro-segments by id (name, rule, size, value share, profile)
    micro_segments: dict[str, dict] = field(default_factory=dict)
    profiles: Any = None  # segmint.realtime ProfileStore
    model: Any = None  # LiveSegmenter
    feature_columns: list[str] = field(default_factory=list)
    #: the model's columns beyond purchases (sources, attributes), when it has any
    sources: LiveSources | None = None
    index: dict[str, int] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    #: raw id (cookie, device, email, an account merged into another) -> the customer it
    #: resolves to, as the batch resolves identities; events and reads go to that customer
    person: dict[str, str] = field(default_factory=dict)
    seg: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    conf: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.float32))
    # each customer's micro-segment as a position in ``micro_ids`` (UNASSIGNED: none)
    micro: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    micro_ids: list[str] = field(default_factory=list)
    _micro_code: dict[str, int] = field(default_factory=dict)
    version: int = 0
    _members_cache: dict[int, tuple] = field(default_factory=dict)

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> LiveState:
        """The latest run's segments, model, membership and the profiles as of its date."""
        state = cls()
        runs = con.execute("SELECT count(*) FROM runs").fetchall()[0][0]
        if not runs:
            return state
        run = get_run(con)
        state.run_id = int(run["run_id"])
        state.run_as_of = datetime.fromisoformat(run["as_of"])
        last = con.execute(
            """SELECT max(ts) FROM (SELECT max(ts) AS ts FROM transactions
                                    UNION ALL SELECT max(ts) FROM events)"""
        ).fetchall()[0][0]
        # everything stored is loaded; the clock is the run's date or the newest event time
        state.clock = np.datetime64(state.run_as_of, "us")
        load_as_of = state.run_as_of
        if last is not None and np.datetime64(last, "us") >= state.clock:
            state.clock = np.datetime64(last, "us")
            load_as_of = last + timedelta(microseconds=1)
        state.feature_columns = list(run["params"].get("features", []))
        segs = load_segments(con, state.run_id)
        fixed = {"segment_id", "name", "rule", "size", "value_share"}
        for row in json.loads(segs.to_json(orient="records")):
            state.segments[int(row["segment_id"])] = {
                "segment_id": int(row["segment_id"]),
                "name": row["name"],
                "rule": row["rule"],
                "size": int(row["size"]),
                "value_share": float(row["value_share"]),
                "profile": {k: v for k, v in row.items() if k not in fixed},
            }
        micro = load_micro_segments(con, state.run_id)
        for row in json.loads(micro.to_json(orient="records")):
            state.micro_segments[row["micro_segment_id"]] = {
                "micro_segment_id": row["micro_segment_id"],
                "segment_id": int(row["segment_id"]),
                "name": row["name"],
                "rule": row["rule"],
                "size": int(row["size"]),
                "value_share": row["value_share"],
                "profile": {k: v for k, v in row.items() if k not in fixed | {"micro_segment_id"}},
            }
        state.model = _load_model(con, run)
        mapping, _ = resolve_identities(engine_for(con))
        state.person = dict(
            zip(mapping["raw_id"].astype(str), mapping["customer_id"].astype(str), strict=True)
        )
        # purchases per person, as the run read them, on a connection of its own: the view
        # that gives them must not stand in for the table the service writes to
        reader = con.cursor()
        try:
            with purchases_by_person(reader, mapping):
                state.profiles = profiles_from_workspace(reader, as_of=load_as_of)
        finally:
            reader.close()
        if state.model is not None:
            # everyone is assigned by the model on their live features: with no data after the
            # run this reproduces the run's assignments exactly (same data, same assignment)
            state.feature_columns = list(state.model.feature_names)
            state.ids = [str(c) for c in state.profiles.customer_ids]
            state.index = {c: i for i, c in enumerate(state.ids)}
            extra = [c for c in state.feature_columns if beyond_purchases(c)]
            if extra:
                state.sources = LiveSources.load(con, run, extra, state.ids, mapping, state.resolve)
            if state.ids:
                rows = np.arange(len(state.ids), dtype=np.int64)
                state.seg, conf, state.micro = state._assign(state.ids, rows)
                state.conf = conf.astype(np.float32)
        else:  # no stored model: the run's assignments, and no live re-assignment
            asg = con.execute(
                """SELECT customer_id, segment_id, confidence, micro_segment_id FROM assignments
                   WHERE run_id = ? ORDER BY customer_id""",
                [state.run_id],
            ).fetchnumpy()
            state.ids = [str(c) for c in asg["customer_id"]]
            state.index = {c: i for i, c in enumerate(state.ids)}
            state.seg = np.asarray(asg["segment_id"], dtype=np.int32)
            state.conf = np.nan_to_num(np.asarray(asg["confidence"], dtype=np.float32), nan=0.0)
            # NULL ids (runs without micro-segments) come back masked: tolist() makes them None
            state.micro = state._micro_codes(np.ma.asarray(asg["micro_segment_id"]).tolist())
        return state

    # ------------------------------------------------------------------ applying events

    def _ensure(self, customer_ids: list[str]) -> np.ndarray:
        out = np.empty(len(customer_ids), dtype=np.int64)
        for i, c in enumerate(customer_ids):
            j = self.index.get(c)
            if j is None:
                j = len(self.ids)
                self.index[c] = j
                self.ids.append(c)
            out[i] = j
        grow = len(self.ids) - len(self.seg)
        if grow > 0:
            self.seg = np.concatenate(
                [self.seg, np.full(max(grow, len(self.seg) // 4), UNASSIGNED, np.int32)]
            )
            self.conf = np.concatenate(
                [self.conf, np.zeros(len(self.seg) - len(self.conf), np.float32)]
            )
            self.micro = np.concatenate(
                [self.micro, np.full(len(self.seg) - len(self.micro), UNASSIGNED, np.int32)]
            )
        if self.sources is not None:
            self.sources.grow(len(self.seg))
        return out

    def resolve(self, customer_id: str) -> str:
        """The customer an id stands for (itself unless identities link it to another)."""
        return self.person.get(customer_id, customer_id)

    def row(self, customer_id: str) -> int | None:
        """The live row of the customer an id stands for, if known."""
        return self.index.get(self.resolve(customer_id))

    def apply(self, events: list[dict]) -> tuple[list[dict], list[Change]]:
        """Apply events in order; return the touched customers' segments and any changes."""
        customer_ids = [self.resolve(e["customer_id"]) for e in events]
        self._ensure(customer_ids)
        ts = np.array([e["ts"] for e in events], dtype="datetime64[us]")
        if len(ts):
            latest = ts.max()
            if self.clock is None or latest > self.clock:
                self.clock = latest
        if self.profiles is not None:
            purchases = [i for i, e in enumerate(events) if e["type"] == "purchase"]
            if purchases:
                p = [events[i]["properties"] for i in purchases]
                self.profiles.apply_purchases(
                    [customer_ids[i] for i in purchases],
                    [x.get("order_id") for x in p],
                    ts[purchases],
                    [x.get("product_id") for x in p],
                    [x.get("category") for x in p],
                    np.array([x.get("quantity", 1.0) for x in p], dtype=np.float64),
                    np.array([x["amount"] for x in p], dtype=np.float64),
                    np.array([x["is_return"] for x in p], dtype=bool),
                )
            others = [i for i, e in enumerate(events) if e["type"] != "purchase"]
            if others:
                self.profiles.apply_events(
                    [customer_ids[i] for i in others],
                    [events[i]["type"] for i in others],
                    ts[others],
                )
        if self.sources is not None:
            self.sources.mark(customer_ids, [e["type"] for e in events])
        unique = list(dict.fromkeys(customer_ids))
        urows = np.array([self.index[c] for c in unique], dtype=np.int64)
        last_ts = {c: e["ts"] + "Z" for c, e in zip(customer_ids, events, strict=True)}
        changes = self._reassign(unique, urows, [last_ts[c] for c in unique])
        out = [self.membership(c, int(r)) for c, r in zip(unique, urows, strict=True)]
        return out, changes

    def _reassign(self, customer_ids: list[str], rows: np.ndarray, ts: list[str]) -> list[Change]:
        """Assign customers on their live features; the changes (``ts``: their causes')."""
        changes: list[Change] = []
        if self.model is None or self.profiles is None:
            return changes
        old = self.seg[rows].copy()
        new, conf, micro = self._assign(customer_ids, rows)
        self.seg[rows] = new
        self.conf[rows] = conf
        self.micro[rows] = micro
        for c, o, n, cf, t in zip(customer_ids, old, new, conf, ts, strict=True):
            if o != n:
                changes.append(
                    Change(
                        c,
                        None if o == UNASSIGNED else int(o),
                        None if n == UNASSIGNED else int(n),
                        float(cf),
                        t,
                    )
                )
        if changes:
            self.version += 1
        return changes

    def source_as_of(self) -> datetime:
        """When stale source columns are measured: just after the newest event (the batch
        counts what happened before ``as_of``)."""
        return self.clock.astype(datetime) + timedelta(microseconds=1)

    def store_sources(self, frame: Any, as_of: datetime) -> list[Change]:
        """Put refreshed source columns (:meth:`LiveSources.compute`) in place and re-assign
        those customers; the changes, stamped ``as_of``."""
        ids = [str(c) for c in frame.index]
        rows = self._ensure(ids)
        self.sources.store(rows, frame, as_of)
        return self._reassign(ids, rows, [as_of.isoformat() + "Z"] * len(ids))

    def _micro_codes(self, ids: Any) -> np.ndarray:
        """Positions of micro-segment ids in ``micro_ids`` (new ones appended; None: none)."""
        codes = np.full(len(ids), UNASSIGNED, dtype=np.int32)
        for i, m in enumerate(ids):
            if m is None:
                continue
            code = self._micro_code.get(m)
            if code is None:
                code = self._micro_code[m] = len(self.micro_ids)
                self.micro_ids.append(m)
            codes[i] = code
        return codes

    def _assign(
        self, customer_ids: list[str], rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Segment, confidence and micro-segment (see :meth:`_micro_codes`) of customers, at
        their live ``rows``."""
        columns = self.feature_columns
        extra = self.sources.columns if self.sources is not None else []
        bought = [c for c in columns if c not in extra]
        X = self.profiles.features(
            customer_ids,
            as_of=self.clock.astype(datetime),
            columns=[*bought, "frequency"] if "frequency" not in bought else bought,
        )
        # a customer without purchases has no features: the batch leaves them out too
        has = np.asarray(X["frequency"].to_numpy(dtype=float) > 0)
        values = X[bought].to_numpy(dtype=np.float64)
        if extra:
            values = np.concatenate([values, self.sources.values[rows]], axis=1)
            order = {c: j for j, c in enumerate([*bought, *extra])}
            values = values[:, [order[c] for c in columns]]
        labels = np.full(len(customer_ids), UNASSIGNED, dtype=np.int32)
        conf = np.zeros(len(customer_ids), dtype=np.float32)
        micro = np.full(len(customer_ids), UNASSIGNED, dtype=np.int32)
        if has.any():
            out = self.model.assign_values(values[has])
            labels[has] = out["segment_id"]
            conf[has] = out["confidence"]
            if out["micro_segment_id"] is not None:
                micro[has] = self._micro_codes(out["micro_segment_id"])
        return labels, conf, micro

    # ------------------------------------------------------------------ reading

    def membership(self, customer_id: str, row: int | None = None) -> dict:
        if row is None:
            customer_id = self.resolve(customer_id)
            row = self.index.get(customer_id)
        s = UNASSIGNED if row is None else int(self.seg[row])
        seg = self.segments.get(s)
        m = UNASSIGNED if seg is None else int(self.micro[row])
        micro_id = None if m == UNASSIGNED else self.micro_ids[m]
        micro = self.micro_segments.get(micro_id) if micro_id is not None else None
        return {
            "customer_id": customer_id,
            "segment_id": None if seg is None else s,
            "segment": None if seg is None else seg["name"],
            "confidence": None if seg is None else round(float(self.conf[row]), 6),
            "micro_segment_id": micro_id,
            "micro_segment": None if micro is None else micro["name"],
        }

    def customer(self, customer_id: str) -> dict | None:
        customer_id = self.resolve(customer_id)
        row = self.index.get(customer_id)
        if row is None:
            return None
        m = self.membership(customer_id, row)
        seg = self.segments.get(m["segment_id"]) if m["segment_id"] is not None else None
        profile: dict = {}
        if self.profiles is not None:
            try:
                profile = _plain(
                    self.profiles.profile(customer_id, as_of=self.clock.astype(datetime))
                )
            except KeyError:
                profile = {}
        if self.sources is not None and profile:
            profile["features"].update(self.sources.row_values(row))
            profile["sources_as_of"] = str(as_of_of(self.sources.as_of_us[row]))
            profile["sources_pending"] = self.sources.pending(customer_id)
        return {
            **m,
            "as_of": None if self.clock is None else self.clock.astype(datetime),
            "profile": profile,
            "rule": None if seg is None else seg["rule"],
        }

    def live_sizes(self) -> dict[int, int]:
        n = len(self.ids)
        values, counts = np.unique(self.seg[:n], return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True) if v != UNASSIGNED}

    def live_micro_sizes(self) -> dict[str, int]:
        """Customers in each micro-segment now, by micro-segment id."""
        n = len(self.ids)
        values, counts = np.unique(self.micro[:n], return_counts=True)
        return {
            self.micro_ids[v]: int(c)
            for v, c in zip(values, counts, strict=True)
            if v != UNASSIGNED
        }

    def members(
        self,
        segment_id: int,
        cursor: str | None,
        limit: int,
        keep: Callable[[str], bool] | None = None,
        token: object = None,
    ) -> tuple[list[str], str | None, int]:
        """A page of the segment's members by id after ``cursor``, the next cursor, and how
        many members ``keep`` (a consent check; ``token`` names it and changes when it does)
        left out."""
        cached = self._members_cache.get((segment_id, token))
        if cached is None or cached[0] != self.version:
            n = len(self.ids)
            rows = np.flatnonzero(self.seg[:n] == segment_id)
            every = [self.ids[r] for r in rows]
            kept = every if keep is None else [c for c in every if keep(c)]
            ids = np.sort(np.array(kept, dtype=object))
            cached = (self.version, ids, len(every) - len(kept))
            if len(self._members_cache) > 1024:  # tokens of consent states long replaced
                self._members_cache.clear()
            self._members_cache[(segment_id, token)] = cached
        ids = cached[1]
        start = 0 if cursor is None else int(np.searchsorted(ids, cursor, side="right"))
        page = [str(x) for x in ids[start : start + limit]]
        more = start + limit < len(ids)
        return page, (page[-1] if more and page else None), cached[2]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, datetime | np.datetime64):
        return str(value)
    return value


def _load_model(con: duckdb.DuckDBPyConnection, run: dict) -> Any:
    """The run's fitted segmenter, stored as JSON by the batch pipeline; None for a run
    stored before models of runs beyond purchases were kept (attributes, web, chats,
    devices, social): its stored assignments are served."""
    payload = load_model(con, run["run_id"], "segmenter")
    features = run["params"].get("features", [])
    if payload is None and any(beyond_purchases(c) for c in features):
        return None
    if payload is None:
        raise WorkspaceError(
            f"run {run['run_id']} has no stored segmentation model; run `segmint run` again"
        )
    return segmenter_from_dict(payload)
