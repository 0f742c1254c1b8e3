"""The audit log: who read, exported, erased or changed what, when, and for which purpose.

Each entry is a row of ``audit_log`` appended in the caller's transaction, so an action and its
record are stored together or not at all. ``actor`` is an API key (``key:<id>``) or the local
user of the CLI (:func:`local_actor`); ``target`` names what was acted on (a segment, a file, a
customer) and must never hold a raw customer id: callers pass the customer's pseudonym
(:func:`segmint.consent.pseudonym.pseudonym`), so the log itself is no list of who was looked at.

Chain
-----
Each entry is sealed with the one before it::

    entry_hash = HMAC-SHA256(audit_key, prev_hash || canonical(entry))

where ``prev_hash`` is the previous entry's ``entry_hash`` (64 zeros before the first) and
``canonical`` writes seq, ts (``%Y-%m-%dT%H:%M:%S.%f``), actor, action, purpose, target, rows
and detail (JSON, sorted keys, compact) each as ``<byte length>:<UTF-8 text>``, or ``-`` for
NULL, so that no two different entries give the same bytes and NULL differs from ``''``. An
edited, removed, inserted or reordered entry then no longer matches its seal or its neighbour,
and :func:`verify_audit` names the first one.

Trust model
-----------
``audit_key`` is 32 random bytes in the file ``audit.key`` (0600) in the workspace directory,
outside the database, created once like ``secrets.key`` (:mod:`segmint.store.sealing`). Whoever
holds only the database file (a backup, a copy shared for debugging, a writer through SQL) can
read the log but cannot rewrite it from some entry on: recomputing the seals needs the key, and
plain SHA-256 hashes do not pass. Whoever can read ``audit.key`` (the workspace's owner, root)
can forge the whole log; the log attests against tampering with the database file, not against
the operator of the workspace.

Anchor
------
A log whose last entries were removed is still a valid chain. So every :func:`record` also
writes the newest ``(seq, entry_hash)`` to ``audit.head`` in the workspace directory (atomically),
and :func:`verify_audit` requires the log to end exactly there: that file is the anchor. It is
written when the entry is recorded, before the caller commits, so a transaction that recorded
and then rolled back leaves the anchor ahead of the log, just as a removed tail does; the two
cannot be told apart. :func:`verify_audit` reports either. The next record, finding the log
behind its anchor, first appends an ``audit.gap`` entry (actor ``segmint``) naming the seqs
the anchor promised and the anchor's hash, so a removed tail stays on the record instead of
being covered by the entries that follow; a rolled-back record leaves the same trace.

Writers
-------
``seq`` is the highest stored seq plus one, read in the caller's transaction: one process holds
the workspace, and it records through one writing connection at a time.
"""

from __future__ import annotations

import getpass
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from segmint.errors import WorkspaceError
from segmint.files import atomic_path, key_file
from segmint.store.workspace import utcnow

__all__ = [
    "GENESIS",
    "HEAD_FILE",
    "KEY_FILE",
    "AuditVerification",
    "local_actor",
    "read_audit",
    "record",
    "record_many",
    "verify_audit",
]

KEY_FILE = "audit.key"
HEAD_FILE = "audit.head"
#: the prev_hash of the first entry
GENESIS = "0" * 64
_TS = "%Y-%m-%dT%H:%M:%S.%f"
_FIELDS = {"ts", "actor", "action", "purpose", "target", "rows", "detail"}
_COLUMNS = "seq, ts, actor, action, purpose, target, rows, CAST(detail AS VARCHAR) AS detail"


@dataclass(frozen=True)
class AuditVerification:
    """What :func:`verify_audit` found.

    Attributes
    ----------
    ok : bool
        Every entry matches its seal and its predecessor, and the log ends at the anchor.
    entries : int
        Rows in ``audit_log``.
    problems : list of str
        One line per problem, in seq order (the anchor's last).
    first_bad_seq : int or None
        The first entry edited, inserted, out of place or missing; None when ok, or when only
        the key or anchor file is missing.
    """

    ok: bool
    entries: int
    problems: list[str]
    first_bad_seq: int | None

    def to_dict(self) -> dict:
        return asdict(self)


def local_actor() -> str:
    """The actor of a CLI command: ``cli:<os user>``."""
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):  # a uid without a passwd entry (containers) and no $USER
        return "cli:unknown"


def record(
    con: duckdb.DuckDBPyConnection,
    directory: Path,
    *,
    actor: str,
    action: str,
    purpose: str | None = None,
    target: str | None = None,
    rows: int | None = None,
    detail: dict | None = None,
) -> int:
    """Append one entry in the caller's transaction; its seq.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The workspace connection, inside the transaction of the action recorded.
    directory : Path
        The workspace directory (``audit.key`` and ``audit.head`` live there).
    actor : str
        ``key:<api key id>`` or :func:`local_actor`.
    action : str
        ``export``, ``customer.read``, ``members.read``, ``erase``, ``key.create``, ...
    purpose : str, optional
        The purpose the data was used for.
    target : str, optional
        What was acted on; a customer only by pseudonym, never by raw id.
    rows : int, optional
        How many rows were read, exported or erased.
    detail : dict, optional
        Anything else, JSON-serialisable.

    Returns
    -------
    int
        The entry's seq.
    """
    entry = {"actor": actor, "action": action, "purpose": purpose, "target": target}
    return record_many(con, directory, [entry | {"rows": rows, "detail": detail}])


def record_many(con: duckdb.DuckDBPyConnection, directory: Path, entries: list[dict]) -> int:
    """Append entries in order, in one insert; the seq of the last (the head's if none).

    Each entry holds :func:`record`'s keyword arguments (``actor`` and ``action`` required),
    and optionally ``ts``, the time of the action (naive UTC) when it was buffered before being
    recorded (now otherwise).
    """
    if not entries:
        return _head(con)[0]
    key = _key(Path(directory), create=True)
    seq, prev = _head(con)
    anchor = _read_head(Path(directory))
    if anchor is not None and anchor[0] > seq:
        # entries the anchor names are not in the log (rolled back, or removed from the file):
        # said in the log, before the entries that would otherwise cover the gap
        gap = {"log_seq": seq, "anchor_seq": anchor[0], "anchor_hash": anchor[1]}
        entries = [{"actor": "segmint", "action": "audit.gap", "detail": gap}, *entries]
    now = utcnow()
    new = []
    for entry in entries:
        unknown = set(entry) - _FIELDS
        if unknown:
            raise ValueError(f"unknown audit entry fields: {', '.join(sorted(unknown))}")
        seq += 1
        ts = entry.get("ts") or now
        # stored types, so that the seal is computed on what verify will read back (a
        # segment id as text, a numpy count as int)
        values = (
            str(entry["actor"]),
            str(entry["action"]),
            *(_text(entry.get(name)) for name in ("purpose", "target")),
            None if entry.get("rows") is None else int(entry["rows"]),
            _detail(entry.get("detail")),
        )
        entry_hash = _seal(key, prev, seq, ts, *values)
        new.append((seq, ts, *values, prev, entry_hash))
        prev = entry_hash
    # one insert of columns, however many entries: the service records reads by the thousand
    con.execute(
        """INSERT INTO audit_log
           SELECT unnest(CAST(? AS BIGINT[])), unnest(CAST(? AS TIMESTAMP[])),
                  unnest(CAST(? AS VARCHAR[])), unnest(CAST(? AS VARCHAR[])),
                  unnest(CAST(? AS VARCHAR[])), unnest(CAST(? AS VARCHAR[])),
                  unnest(CAST(? AS BIGINT[])), CAST(unnest(CAST(? AS VARCHAR[])) AS JSON),
                  unnest(CAST(? AS VARCHAR[])), unnest(CAST(? AS VARCHAR[]))""",
        [list(column) for column in zip(*new, strict=True)],
    ).fetchall()
    _write_head(Path(directory), seq, prev)
    return seq


def verify_audit(con: duckdb.DuckDBPyConnection, directory: Path) -> AuditVerification:
    """Check every entry's seal and link, and that the log ends at the anchor (``audit.head``).

    Problems are reported at the first seq they concern: an edited entry (its seal), a
    removed one (the gap), an inserted or duplicated one (its seal, or its seq twice), two
    swapped ones (the first one's seal), a removed tail (the anchor).
    """
    directory = Path(directory)
    found = con.execute(
        f"SELECT {_COLUMNS}, prev_hash, entry_hash FROM audit_log ORDER BY seq, entry_hash"
    ).fetchall()
    key = _key(directory, create=False)
    if found and key is None:
        problem = f"{KEY_FILE} is missing from {directory}: the entries cannot be checked"
        return AuditVerification(False, len(found), [problem], None)
    problems: list[tuple[int | None, str]] = []
    last, last_hash = 0, GENESIS
    for seq, *values, prev_hash, entry_hash in found:
        if seq <= last:
            problems.append((seq, f"entry {seq} is duplicated or out of sequence"))
        elif seq > last + 1:
            problems.append((last + 1, f"entries {last + 1} to {seq - 1} are missing"))
        elif prev_hash != last_hash:
            problems.append((seq, f"entry {seq} does not follow entry {last}"))
        if _seal(key, prev_hash, seq, *values) != entry_hash:
            problems.append((seq, f"entry {seq} does not match its seal (edited or forged)"))
        last, last_hash = max(seq, last), entry_hash
    try:
        anchor = _read_head(directory)
    except WorkspaceError as exc:
        problems.append((None, str(exc)))
    else:
        problems.extend(_anchor_problems(anchor, last, last_hash, bool(found)))
    bad = [seq for seq, _ in problems if seq is not None]
    return AuditVerification(
        not problems, len(found), [text for _, text in problems], min(bad) if bad else None
    )


def read_audit(
    con: duckdb.DuckDBPyConnection,
    *,
    limit: int = 100,
    action: str | None = None,
    since: datetime | None = None,
) -> pd.DataFrame:
    """The newest entries first (without their hashes), optionally of one action or since a
    time (naive UTC)."""
    where, params = [], []
    if action is not None:
        where.append("action = ?")
        params.append(action)
    if since is not None:
        where.append("ts >= ?")
        params.append(since)
    condition = f"WHERE {' AND '.join(where)}" if where else ""
    return con.execute(
        f"SELECT {_COLUMNS} FROM audit_log {condition} ORDER BY seq DESC LIMIT ?",
        [*params, limit],
    ).df()


def _head(con: duckdb.DuckDBPyConnection) -> tuple[int, str]:
    """The last entry's seq and hash, as this transaction sees them."""
    found = con.execute(
        "SELECT seq, entry_hash FROM audit_log ORDER BY seq DESC LIMIT 1"
    ).fetchall()
    return found[0] if found else (0, GENESIS)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _detail(detail: dict | None) -> str | None:
    # ASCII-only JSON: stored and read back byte for byte, whatever the text holds
    if detail is None:
        return None
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _seal(key: bytes, prev_hash: str, seq: int, ts: datetime, *values: str | int | None) -> str:
    """HMAC-SHA256 of prev_hash and the entry's canonical bytes (``values``: actor, action,
    purpose, target, rows, detail as stored)."""
    parts = [prev_hash.encode("utf-8")]
    for value in (str(seq), ts.strftime(_TS), *values):
        if value is None:
            parts.append(b"-")
        else:
            text = str(value).encode("utf-8")
            parts.append(b"%d:%s" % (len(text), text))
    return hmac.new(key, b"".join(parts), "sha256").hexdigest()


def _anchor_problems(
    anchor: tuple[int, str] | None, last: int, last_hash: str, any_entries: bool
) -> list[tuple[int | None, str]]:
    """Where the log's end disagrees with ``audit.head``."""
    if anchor is None:
        if any_entries:
            return [(None, f"{HEAD_FILE} is missing: a removed tail cannot be ruled out")]
        return []
    seq, entry_hash = anchor
    if last < seq:
        return [
            (
                last + 1,
                f"the log ends at entry {last} but {HEAD_FILE} names entry {seq}: entries "
                f"{last + 1} to {seq} were removed (or recorded in a transaction rolled back)",
            )
        ]
    if last > seq:
        return [(seq + 1, f"entries after {seq}, the last in {HEAD_FILE}, were added around it")]
    if last_hash != entry_hash:
        return [(seq, f"entry {seq} is not the one {HEAD_FILE} names")]
    return []


def _read_head(directory: Path) -> tuple[int, str] | None:
    """The anchor's seq and entry hash; None without one."""
    path = directory / HEAD_FILE
    if not path.is_file():
        return None
    try:
        anchor = json.loads(path.read_text(encoding="utf-8"))
        return int(anchor["seq"]), str(anchor["entry_hash"])
    except (ValueError, KeyError, TypeError):
        raise WorkspaceError(f"{path} is not an audit anchor") from None


def _write_head(directory: Path, seq: int, entry_hash: str) -> None:
    with atomic_path(directory / HEAD_FILE) as tmp:
        tmp.write_text(json.dumps({"seq": seq, "entry_hash": entry_hash}) + "\n")


def _key(directory: Path, *, create: bool) -> bytes | None:
    """The audit key, created (0600, exclusively) on first use when ``create``; None if absent."""
    path = directory / KEY_FILE
    if not create:
        return _checked(path, path.read_bytes()) if path.is_file() else None
    return _checked(path, key_file(path))


def _checked(path: Path, key: bytes) -> bytes:
    if len(key) != 32:
        raise WorkspaceError(f"{path} is not a segmint key file (expected 32 bytes)")
    return key
