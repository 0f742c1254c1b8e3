"""The consent ledger: an append-only Merkle log of consent changes with signed checkpoints.

Each change (a customer granted or withdrew a purpose, or was erased) is one row of
``consent_ledger`` and one leaf of an RFC 9162 Merkle tree, in ``seq`` order. After every
append the whole tree's root is signed (Ed25519, :mod:`segmint.consent.signing`) and stored as
a checkpoint; a business can publish checkpoints, and :func:`verify` then shows that the
ledger still holds exactly what each one covered. Customers appear only as ``customer_ref``,
an HMAC of their id under their own key in ``consent_subjects``; erasure deletes that key.

A leaf's bytes are the UTF-8 text of the fields ``seq, customer_ref, purpose, status, source,
ts, evidence``, each written ``<UTF-8 length in bytes>:<value>``, or ``-`` when NULL, with
nothing between them; ``ts`` reads ``%Y-%m-%dT%H:%M:%S.%f``. ``leaf_hash`` is hex
SHA-256(0x00 || those bytes) and ``leaf_mac`` hex SHA-256(mac key || leaf hash bytes), the
MAC key derived from ``consent.key``: someone holding the database file but not the key can
recompute a leaf hash, not its seal, so :func:`verify` names the row they rewrote. Both are
computed in SQL, so millions of rows hash in parallel; ``verifier.py`` writes the same bytes
in plain Python.

Functions here run inside the caller's transaction: they neither begin nor commit one.

Examples
--------
>>> with workspace.transaction(create=True) as con:          # doctest: +SKIP
...     append_rows(con, workspace.path, [{"customer_id": "c1", "purpose": "email",
...         "status": "granted", "source": "api", "ts": datetime(2026, 1, 5), "evidence": None}])
...     verify(con, workspace.path).ok
True
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from segmint.consent.merkle import (
    build_levels,
    consistency_proof,
    extend,
    frontier,
    frontier_root,
    inclusion_proof,
    root_at,
)
from segmint.consent.signing import KEY_FILE, LedgerKey, check_signature
from segmint.errors import SegmintError, WorkspaceError
from segmint.io.validate import quote
from segmint.schema import CONSENT_STATUSES
from segmint.store.workspace import utcnow

__all__ = [
    "STATUSES",
    "Appended",
    "Verification",
    "append_new",
    "append_rows",
    "append_table",
    "consistency",
    "latest_checkpoint",
    "proof",
    "shred",
    "verify",
]

#: what an appended row may say; ``erased`` is written by :func:`shred` only
STATUSES = tuple(CONSENT_STATUSES)
ENTRY_COLUMNS = ("customer_id", "purpose", "status", "source", "ts", "evidence")
TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"
#: problems named one by one before the rest are counted
_NAMED = 50


def _field(expr: str) -> str:
    # NULL || anything is NULL, so a NULL field becomes '-'
    return f"coalesce(strlen({expr}) || ':' || {expr}, '-')"


_LEAF_TEXT = (
    "concat("
    + ", ".join(
        _field(e)
        for e in (
            "CAST(seq AS VARCHAR)",
            "customer_ref",
            "purpose",
            "status",
            "source",
            f"strftime(ts, '{TS_FORMAT}')",
            "evidence",
        )
    )
    + ")"
)
#: hex SHA-256(0x00 || leaf bytes) of a row with the ledger's columns
LEAF_HASH_SQL = f"sha256('\\x00'::BLOB || encode({_LEAF_TEXT}))"
_STATUS_LIST = ", ".join(f"'{s}'" for s in STATUSES)


@dataclass
class Appended:
    """What an append added: ``count`` entries from ``first_seq``, and the checkpoint signed
    over the whole ledger after it (the latest one, unchanged, when nothing was added)."""

    first_seq: int
    count: int
    checkpoint: dict | None


@dataclass
class Verification:
    """What :func:`verify` found: ``ok`` when ``problems`` is empty; ``first_bad_seq`` is the
    first entry that cannot be trusted (None when all can)."""

    ok: bool
    entries: int
    checkpoints: int
    problems: list[str] = field(default_factory=list)
    first_bad_seq: int | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def append_table(con: duckdb.DuckDBPyConnection, directory: Path, table: str) -> Appended:
    """Append the rows of ``table`` to the ledger and sign a checkpoint over the whole of it.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The workspace connection, inside the caller's transaction.
    directory : Path
        The workspace directory (``consent.key`` is created there on first use).
    table : str
        A table or view with the columns ``customer_id, purpose, status, source, ts,
        evidence``; its rows are given ``seq`` numbers in ``ts, customer_id, purpose`` order
        after the ledger's last.

    Returns
    -------
    Appended
        The first ``seq`` given, the count, and the new checkpoint.

    Raises
    ------
    SegmintError
        A row lacks a customer id, purpose or time, or its status is not granted or withdrawn.
    """
    source = quote(table)
    bad = con.execute(
        f"""SELECT count(*), any_value(status) FROM {source}
            WHERE status IS NULL OR status NOT IN ({_STATUS_LIST})"""
    ).fetchall()[0]
    if bad[0]:
        raise SegmintError(
            f"{bad[0]:,} consent row(s) have a status other than {' or '.join(STATUSES)} "
            f"(e.g. {bad[1]!r}); an erasure is recorded by shredding the customer's key"
        )
    return _append(con, directory, source)


def append_rows(con: duckdb.DuckDBPyConnection, directory: Path, rows: list[dict]) -> Appended:
    """:func:`append_table` for a few rows given as dicts with its columns (missing ones NULL).

    Examples
    --------
    >>> append_rows(con, ws.path, [{"customer_id": "c1", "purpose": "sms",   # doctest: +SKIP
    ...     "status": "withdrawn", "ts": datetime(2026, 2, 1), "source": "api"}])
    """
    frame = pd.DataFrame(
        {
            "customer_id": pd.Series([r.get("customer_id") for r in rows], dtype=object),
            "purpose": pd.Series([r.get("purpose") for r in rows], dtype=object),
            "status": pd.Series([r.get("status") for r in rows], dtype=object),
            "source": pd.Series([r.get("source") for r in rows], dtype=object),
            "ts": pd.to_datetime(pd.Series([r.get("ts") for r in rows], dtype=object)),
            "evidence": pd.Series([r.get("evidence") for r in rows], dtype=object),
        }
    )
    con.register("_consent_rows", frame)
    try:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _consent_rows_t AS SELECT
                   CAST(customer_id AS VARCHAR) AS customer_id, CAST(purpose AS VARCHAR) AS purpose,
                   CAST(status AS VARCHAR) AS status, CAST(source AS VARCHAR) AS source,
                   CAST(ts AS TIMESTAMP) AS ts, CAST(evidence AS VARCHAR) AS evidence
               FROM _consent_rows"""
        )
    finally:
        con.unregister("_consent_rows")
    try:
        return append_table(con, directory, "_consent_rows_t")
    finally:
        con.execute("DROP TABLE IF EXISTS _consent_rows_t")


def append_new(con: duckdb.DuckDBPyConnection, directory: Path, table: str) -> Appended:
    """:func:`append_table` for the rows of ``table`` the ledger does not hold yet: the same
    customer, purpose, status, time, source and evidence, stored already or given twice, is
    appended once (so a file ingested again adds nothing)."""
    source = quote(table)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _consent_new AS
            SELECT DISTINCT customer_id, purpose, status, source, CAST(ts AS TIMESTAMP) AS ts,
                   evidence FROM {source}
            EXCEPT
            SELECT s.customer_id, l.purpose, l.status, l.source, l.ts, l.evidence
            FROM consent_ledger l JOIN consent_subjects s USING (customer_ref)
            WHERE s.customer_id IN (SELECT customer_id FROM {source})"""
    )
    try:
        return append_table(con, directory, "_consent_new")
    finally:
        con.execute("DROP TABLE IF EXISTS _consent_new")


def shred(
    con: duckdb.DuckDBPyConnection,
    directory: Path,
    customer_id: str,
    *,
    source: str = "erasure",
    evidence: str | None = None,
) -> bool:
    """Erase a customer: append an ``erased`` entry (purpose ``*``), sign a checkpoint, then
    delete the customer's key, so their entries stay in the tree but name nobody.

    Returns False (and appends nothing) when the customer has no key: unknown, or erased
    already.
    """
    found = con.execute(
        "SELECT count(*) FROM consent_subjects WHERE customer_id = ?", [customer_id]
    ).fetchall()
    if not found[0][0]:
        return False
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _consent_erasure AS
           SELECT CAST(? AS VARCHAR) AS customer_id, '*' AS purpose, 'erased' AS status,
                  CAST(? AS VARCHAR) AS source, CAST(? AS TIMESTAMP) AS ts,
                  CAST(? AS VARCHAR) AS evidence""",
        [customer_id, source, utcnow(), evidence],
    )
    try:
        _append(con, directory, "_consent_erasure")
    finally:
        con.execute("DROP TABLE IF EXISTS _consent_erasure")
    con.execute("DELETE FROM consent_subjects WHERE customer_id = ?", [customer_id])
    return True


def _append(con: duckdb.DuckDBPyConnection, directory: Path, source: str) -> Appended:
    """Subjects for new customers, the rows with their seq, hashes and seals, a checkpoint."""
    missing = con.execute(
        f"""SELECT count(*) FROM {source}
            WHERE customer_id IS NULL OR purpose IS NULL OR ts IS NULL"""
    ).fetchall()[0][0]
    if missing:
        raise SegmintError(f"{missing:,} consent row(s) lack a customer id, purpose or time")
    key = LedgerKey.for_workspace(directory)
    (first, held, count) = con.execute(
        f"""SELECT (SELECT coalesce(max(seq) + 1, 0) FROM consent_ledger),
                   (SELECT count(*) FROM consent_ledger), count(*)
            FROM {source}"""
    ).fetchall()[0]
    if first != held:
        # a tree over rows numbered with gaps or repeats would be signed as if it were whole
        raise WorkspaceError(
            f"the consent ledger holds {held:,} entries numbered up to {first - 1}: it was "
            "changed outside segmint; see segmint consent verify before appending"
        )
    if count == 0:
        return Appended(first, 0, latest_checkpoint(con, directory))
    _add_subjects(con, source)
    con.execute(
        f"""INSERT INTO consent_ledger
            WITH entries AS (
                SELECT ? + row_number() OVER (ORDER BY t.ts, t.customer_id, t.purpose,
                           t.status, t.source, t.evidence) - 1 AS seq,
                       s.customer_ref, t.purpose, t.status, t.source,
                       CAST(t.ts AS TIMESTAMP) AS ts, t.evidence
                FROM {source} t JOIN consent_subjects s USING (customer_id)
            ), hashed AS (SELECT *, {LEAF_HASH_SQL} AS leaf_hash FROM entries)
            SELECT seq, customer_ref, purpose, status, source, ts, evidence,
                   CAST(? AS TIMESTAMP), leaf_hash, sha256(?::BLOB || unhex(leaf_hash))
            FROM hashed ORDER BY seq""",
        [first, utcnow(), key.mac_key()],
    )
    checkpoint = _sign_checkpoint(con, key, first, first + count)
    return Appended(first, count, checkpoint)


def _add_subjects(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """A random key and its HMAC reference for each customer of ``source`` without one."""
    new = (
        con.sql(
            f"""SELECT DISTINCT customer_id FROM {source}
                WHERE customer_id NOT IN (SELECT customer_id FROM consent_subjects)"""
        )
        .to_arrow_table()
        .column(0)
        .to_pylist()
    )
    if not new:
        return
    keys = [os.urandom(32) for _ in new]
    # hmac.digest is the one-shot C path, several times faster than hmac.new per customer
    refs = [
        hmac.digest(k, c.encode("utf-8"), "sha256").hex() for k, c in zip(keys, new, strict=True)
    ]
    subjects = pa.table(
        {
            "customer_id": pa.array(new, pa.string()),
            "subject_key": pa.array(keys, pa.binary()),
            "customer_ref": pa.array(refs, pa.string()),
        }
    )
    con.register("_consent_subjects_new", subjects)
    try:
        con.execute("INSERT INTO consent_subjects SELECT * FROM _consent_subjects_new")
    finally:
        con.unregister("_consent_subjects_new")


def _in_order(rows: pa.Table) -> pa.Table:
    """``rows`` sorted by ``seq``: they come in storage order, which is ``seq`` order unless
    rows were moved, so the sort is usually skipped (DuckDB's ORDER BY costs seconds at 10M)."""
    seqs = rows["seq"].to_numpy()
    if len(seqs) and not (seqs[1:] >= seqs[:-1]).all():
        return rows.take(pc.sort_indices(rows["seq"]))
    return rows


def _leaves(con: duckdb.DuckDBPyConnection, size: int | None = None) -> list[bytes]:
    """The stored leaf hashes in ``seq`` order (the first ``size``), as bytes; one that is not
    hex becomes empty bytes, so it changes every root above it."""
    rows = _in_order(
        con.sql(
            "SELECT seq, coalesce(try(unhex(leaf_hash)), ''::BLOB) AS leaf FROM consent_ledger"
        ).to_arrow_table()
    )
    leaves = rows["leaf"] if size is None else rows["leaf"].slice(0, size)
    return leaves.to_pylist()


def _tree_root(con: duckdb.DuckDBPyConnection, previous: int, size: int) -> str:
    """The root of the first ``size`` leaves. The stored frontier of the ``previous`` tree is
    extended by the new leaves alone (measured: a one-row append at 10M entries took 15.8 s
    when it rebuilt the tree), if it still folds to that tree's signed root; otherwise the
    tree is rebuilt from every leaf. Either way the frontier of the new tree is stored."""
    front = [
        (height, bytes.fromhex(h))
        for height, h in con.execute(
            "SELECT height, hash FROM consent_frontier WHERE tree_size = ? ORDER BY height DESC",
            [previous],
        ).fetchall()
    ]
    signed = con.execute(
        """SELECT root FROM consent_checkpoints WHERE tree_size = ?
           ORDER BY checkpoint_id DESC LIMIT 1""",
        [previous],
    ).fetchall()
    if previous == 0 or (signed and front and frontier_root(front).hex() == signed[0][0]):
        new = con.execute(
            """SELECT coalesce(try(unhex(leaf_hash)), ''::BLOB) FROM consent_ledger
               WHERE seq >= ? AND seq < ? ORDER BY seq""",
            [previous, size],
        ).fetchall()
        front = extend(front if previous else [], [bytes(r[0]) for r in new])
    else:
        front = frontier(build_levels(_leaves(con, size)), size)
    con.execute("DELETE FROM consent_frontier")
    con.executemany(
        "INSERT INTO consent_frontier VALUES (?, ?, ?)", [(size, h, x.hex()) for h, x in front]
    )
    return frontier_root(front).hex()


def _sign_checkpoint(
    con: duckdb.DuckDBPyConnection, key: LedgerKey, previous: int, size: int
) -> dict:
    """Sign and store the next checkpoint: the root of the ledger's first ``size`` entries
    (``previous``: the size of the tree it extends)."""
    root = _tree_root(con, previous, size)
    (last,) = con.execute(
        "SELECT coalesce(max(checkpoint_id), 0) FROM consent_checkpoints"
    ).fetchall()[0]
    created = utcnow()
    checkpoint = key.sign(last + 1, size, root, created.strftime(TS_FORMAT) + "Z")
    con.execute(
        "INSERT INTO consent_checkpoints VALUES (?, ?, ?, ?, ?, ?)",
        [last + 1, size, root, created, key.key_id, checkpoint["signature"]],
    )
    return checkpoint


def _checkpoint_dict(row: tuple, public_key: str | None) -> dict:
    checkpoint_id, size, root, created, kid, signature = row
    checkpoint = {
        "origin": "segmint consent ledger",
        "checkpoint_id": checkpoint_id,
        "tree_size": size,
        "root": root,
        "created_at": created.strftime(TS_FORMAT) + "Z",
        "key_id": kid,
    }
    if public_key is not None:
        checkpoint["public_key"] = public_key
    checkpoint["signature"] = signature
    return checkpoint


_CHECKPOINT_COLUMNS = "checkpoint_id, tree_size, root, created_at, key_id, signature"


def latest_checkpoint(con: duckdb.DuckDBPyConnection, directory: Path | None = None) -> dict | None:
    """The latest stored checkpoint as a dict (None before the first append); with the
    workspace ``directory`` it carries the public key, ready to publish."""
    rows = con.execute(
        f"""SELECT {_CHECKPOINT_COLUMNS} FROM consent_checkpoints
            ORDER BY checkpoint_id DESC LIMIT 1"""
    ).fetchall()
    if not rows:
        return None
    public = None if directory is None else _key(directory).public_key.hex()
    return _checkpoint_dict(rows[0], public)


def _key(directory: Path) -> LedgerKey:
    """The workspace's existing ledger key (reading the ledger never creates one)."""
    if not (Path(directory) / KEY_FILE).is_file():
        raise WorkspaceError(
            f"{Path(directory) / KEY_FILE} is missing: the consent ledger cannot be checked or "
            "proven without the key it was signed with; restore it from a backup"
        )
    return LedgerKey.for_workspace(directory)


def consistency(
    con: duckdb.DuckDBPyConnection, directory: Path, old_size: int, new_size: int
) -> list[str]:
    """The RFC 9162 consistency proof (hex) from the tree of ``old_size`` entries to that of
    ``new_size``: a holder of both signed roots checks with it that nothing was rewritten."""
    (entries,) = con.execute("SELECT count(*) FROM consent_ledger").fetchall()[0]
    if not 0 <= old_size <= new_size <= entries:
        raise SegmintError(
            f"no consistency proof from {old_size} to {new_size} entries: the ledger holds "
            f"{entries:,}"
        )
    levels = build_levels(_leaves(con, new_size))
    return [h.hex() for h in consistency_proof(levels, old_size, new_size)]


def proof(con: duckdb.DuckDBPyConnection, directory: Path, customer_id: str) -> dict:
    """A self-contained, JSON-serialisable proof of a customer's current consent.

    It holds the customer's key and reference, their latest entry per purpose with its
    inclusion proof against the latest signed checkpoint, and that checkpoint with its public
    key; ``segmint/consent/verifier.py`` checks it anywhere (its docstring has the format).

    Raises
    ------
    SegmintError
        The customer has no consent recorded, or was erased.
    """
    subject = con.execute(
        "SELECT subject_key, customer_ref FROM consent_subjects WHERE customer_id = ?",
        [customer_id],
    ).fetchall()
    if not subject:
        raise SegmintError(f"no consent recorded for customer {customer_id!r} (or erased)")
    subject_key, ref = subject[0]
    checkpoint = latest_checkpoint(con, directory)
    if checkpoint is None:
        raise SegmintError("the consent ledger has no signed checkpoint yet")
    size = checkpoint["tree_size"]
    rows = con.execute(
        f"""SELECT seq, purpose, status, source, strftime(ts, '{TS_FORMAT}'), evidence,
                   leaf_hash
            FROM consent_ledger WHERE customer_ref = ? AND seq < ?
            QUALIFY row_number() OVER (PARTITION BY purpose ORDER BY seq DESC) = 1
            ORDER BY purpose""",
        [ref, size],
    ).fetchall()
    levels = build_levels(_leaves(con, size))
    entries = [
        {
            "seq": seq,
            "purpose": purpose,
            "status": status,
            "source": source,
            "ts": ts,
            "evidence": evidence,
            "leaf_hash": leaf,
            "audit_path": [h.hex() for h in inclusion_proof(levels, seq, size)],
        }
        for seq, purpose, status, source, ts, evidence, leaf in rows
    ]
    return {
        "format": "segmint consent proof v1",
        "customer_id": customer_id,
        "subject_key": bytes(subject_key).hex(),
        "customer_ref": ref,
        "entries": entries,
        "checkpoint": checkpoint,
    }


def verify(
    con: duckdb.DuckDBPyConnection, directory: Path, published: list[dict] | tuple = ()
) -> Verification:
    """Check the whole ledger: every row, every stored checkpoint, and each ``published``
    checkpoint dict (as :func:`latest_checkpoint` gave it out).

    Rows must be numbered 0, 1, 2, ... once each, hash to their ``leaf_hash`` and carry its
    seal; checkpoints must be numbered 1, 2, ..., grow, be signed by this workspace's key, and
    have as root the root of the ledger's first ``tree_size`` entries (so each is consistent
    with every earlier one); the latest must cover every entry.

    Examples
    --------
    >>> found = verify(con, ws.path)                      # doctest: +SKIP
    >>> found.ok, found.problems
    (False, ['entry 7 was changed: its fields no longer hash to its leaf hash'])
    """
    (entries, checkpoints) = con.execute(
        "SELECT (SELECT count(*) FROM consent_ledger), (SELECT count(*) FROM consent_checkpoints)"
    ).fetchall()[0]
    if entries == 0 and checkpoints == 0 and not published:
        return Verification(True, 0, 0)
    key = _key(directory)
    problems: list[str] = []
    # entries named as bad, and where a root that does not match says the bad ones start at
    # the latest (from the last root that matched): a bound, used when no entry is named
    suspects: list[int] = []
    bounds: list[int] = []
    rows = _scan(con, key)
    _check_numbering(rows["seq"].to_numpy(), problems, suspects)
    _check_rows(rows, problems, suspects)
    levels = build_levels(rows["leaf"].to_pylist())
    del rows  # the tree holds the leaves now
    _check_checkpoints(con, key, levels, problems, suspects, bounds)
    for given in published:
        _check_published(con, key, levels, given, problems, suspects, bounds)
    first_bad = min(suspects or bounds) if suspects or bounds else None
    return Verification(not problems, entries, checkpoints, problems, first_bad)


def _scan(con: duckdb.DuckDBPyConnection, key: LedgerKey) -> pa.Table:
    """Every row's ``seq``, its leaf hash recomputed from its fields (bytes), and whether that
    equals its stored ``leaf_hash`` (``hashed``) and its seal is that hash's (``sealed``), in
    ``seq`` order.

    One parallel pass: each row's two SHA-256 are computed once.
    """
    rows = con.sql(
        f"""SELECT seq, coalesce(unhex(h), ''::BLOB) AS leaf,
                   coalesce(leaf_hash = h, false) AS hashed,
                   coalesce(leaf_mac = sha256(?::BLOB || unhex(h)), false) AS sealed
            FROM (SELECT seq, leaf_hash, leaf_mac, {LEAF_HASH_SQL} AS h FROM consent_ledger)""",
        params=[key.mac_key()],
    ).to_arrow_table()
    return _in_order(rows)


def _check_numbering(seqs: np.ndarray, problems: list[str], suspects: list[int]) -> None:
    """Each seq from 0 on exactly once (``seqs`` sorted): a gap is a deleted row, a repeat or
    a negative number an inserted one."""
    starts = np.flatnonzero(np.r_[True, seqs[1:] != seqs[:-1]]) if len(seqs) else seqs
    values, counts = seqs[starts], np.diff(np.r_[starts, len(seqs)])
    for seq, n in zip(values[counts > 1][:_NAMED], counts[counts > 1][:_NAMED], strict=True):
        problems.append(f"entry {seq} appears {n} times (a row was inserted or copied)")
        suspects.append(int(seq))
    for seq in values[values < 0][:_NAMED]:
        problems.append(f"entry {seq} has a negative number (a row was inserted)")
        suspects.append(0)
    present = np.r_[-1, values[values >= 0]]
    after = np.flatnonzero(np.diff(present) > 1)[:_NAMED]
    for first, last in zip(present[after] + 1, present[after + 1] - 1, strict=True):
        if first == last:
            problems.append(f"entry {first} is missing (the row was deleted)")
        else:
            problems.append(f"entries {first} to {last} are missing (the rows were deleted)")
        suspects.append(int(first))


def _check_rows(rows: pa.Table, problems: list[str], suspects: list[int]) -> None:
    """Each row's fields must hash to its leaf hash, and its seal match that hash (a changed
    row is named once, as changed: its seal matters when its hash still matches)."""
    bad = rows.filter(pc.invert(pc.and_(rows["hashed"], rows["sealed"])))
    for seq, hashed in zip(
        bad["seq"].to_pylist()[:_NAMED], bad["hashed"].to_pylist()[:_NAMED], strict=True
    ):
        if not hashed:
            problems.append(f"entry {seq} was changed: its fields no longer hash to its leaf hash")
        else:
            problems.append(
                f"entry {seq} was rewritten or added without the ledger key: its seal does not "
                "match its leaf hash"
            )
        suspects.append(seq)
    if bad.num_rows > _NAMED:
        problems.append(f"... and {bad.num_rows - _NAMED:,} more entries fail the same checks")


def _check_checkpoints(
    con: duckdb.DuckDBPyConnection,
    key: LedgerKey,
    levels: list[list[bytes]],
    problems: list[str],
    suspects: list[int],
    bounds: list[int],
) -> None:
    """Signed by this key, numbered 1, 2, ..., growing, each root the ledger's at its size,
    and the latest covering every entry."""
    rows = con.execute(
        f"SELECT {_CHECKPOINT_COLUMNS} FROM consent_checkpoints ORDER BY checkpoint_id, tree_size"
    ).fetchall()
    entries = len(levels[0])
    public = key.public_key.hex()
    last_id, last_size, trusted = 0, 0, 0
    for row in rows:
        checkpoint = _checkpoint_dict(row, public)
        cid, size = checkpoint["checkpoint_id"], checkpoint["tree_size"]
        if cid <= last_id:
            problems.append(f"checkpoint {cid} appears more than once")
        elif cid > last_id + 1:
            missing = f"{last_id + 1}" if cid == last_id + 2 else f"{last_id + 1} to {cid - 1}"
            problems.append(f"checkpoint {missing} is missing (deleted)")
        if size <= last_size:
            problems.append(
                f"checkpoint {cid} covers {size:,} entries, no more than the one before it "
                f"({last_size:,})"
            )
        last_id, last_size = max(last_id, cid), max(last_size, size)
        signed = _signature_problem(checkpoint, key, f"checkpoint {cid}")
        if signed:
            problems.append(signed)
            continue
        trusted = _check_root(
            checkpoint, levels, f"checkpoint {cid}", problems, (suspects, bounds), trusted
        )
    if entries > last_size:
        covered = "no signed checkpoint" if not rows else f"checkpoint {last_id}"
        problems.append(
            f"entries {last_size} to {entries - 1} are not covered by any signed checkpoint "
            f"(the latest, {covered}, covers {last_size:,}): added without the ledger key, or "
            "the latest checkpoint was deleted"
        )
        suspects.append(last_size)


def _signature_problem(checkpoint: dict, key: LedgerKey, name: str) -> str | None:
    if checkpoint.get("key_id") != key.key_id or checkpoint.get("public_key") != (
        key.public_key.hex()
    ):
        return (
            f"{name} was signed by another key (key id {checkpoint.get('key_id')}, this "
            f"workspace's is {key.key_id})"
        )
    if not check_signature(checkpoint):
        return f"{name}'s signature does not verify: it was changed or forged"
    return None


def _check_root(
    checkpoint: dict,
    levels: list[list[bytes]],
    name: str,
    problems: list[str],
    found: tuple[list[int], list[int]],
    trusted: int,
) -> int:
    """Compare a signed root with the ledger's; the size up to which the ledger is vouched.
    ``found`` holds the suspect entries and the bounds (see :func:`verify`)."""
    suspects, bounds = found
    size, entries = checkpoint["tree_size"], len(levels[0])
    if size > entries:
        problems.append(
            f"{name} covers {size:,} entries but the ledger holds {entries:,}: entries from "
            f"{entries} on were removed"
        )
        suspects.append(entries)
        return trusted
    if root_at(levels, size).hex() != checkpoint["root"]:
        problems.append(
            f"{name}'s signed root does not match the ledger's first {size:,} entries: "
            f"entries below {size} were changed"
        )
        bounds.append(trusted)
        return trusted
    return max(trusted, size)


def _check_published(
    con: duckdb.DuckDBPyConnection,
    key: LedgerKey,
    levels: list[list[bytes]],
    given: dict,
    problems: list[str],
    suspects: list[int],
    bounds: list[int],
) -> None:
    name = f"published checkpoint {given.get('checkpoint_id')}"
    signed = _signature_problem(given, key, name)
    if signed:
        problems.append(signed)
        return
    stored = con.execute(
        "SELECT tree_size, root FROM consent_checkpoints WHERE checkpoint_id = ?",
        [int(given["checkpoint_id"])],
    ).fetchall()
    if stored and stored[0] != (given["tree_size"], given["root"]):
        problems.append(f"{name} differs from the stored checkpoint of that number (replaced)")
    elif not stored:
        problems.append(f"{name} is not in the ledger's checkpoints (deleted)")
    _check_root(given, levels, name, problems, (suspects, bounds), 0)
