"""``segmint lookalike``: score a prospect file against chosen customers, write the top ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from segmint.activate.lookalike import (
    browsing_columns,
    customer_frame,
    encode_prospects,
    score_prospects,
    top_share,
)
from segmint.activate.selection import select
from segmint.consent.audit import local_actor, record
from segmint.consent.permitted import permitted
from segmint.errors import DataValidationError, SegmintError
from segmint.features.attributes import attribute_column
from segmint.io.readers import close_source, open_source
from segmint.store.exports import export_query
from segmint.store.runs import get_run
from segmint.store.workspace import Workspace

#: prospect file columns taken as the id when --id-column is not given (compared by slug)
ID_NAMES = ("attr_customer_id", "attr_prospect_id", "attr_id", "attr_user_id", "attr_email")
_VIEW = "_segmint_prospects"


@dataclass(frozen=True)
class LookalikeExport:
    """What ``segmint lookalike`` did: rows scored, written, skipped, and the features."""

    path: Path | None
    like: str
    run_id: int
    scored: int
    written: int
    skipped: int
    positives: int
    customers: int
    features: list[str]
    columns_used: dict[str, str]
    columns_ignored: list[str]
    frame: pd.DataFrame | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "frame"} | {
            "path": str(self.path) if self.path else None
        }


def _id_column(frame: pd.DataFrame, given: str | None, source: str) -> str:
    if given is not None:
        if given not in frame.columns:
            raise DataValidationError(
                f"no id column {given!r}; the file has {list(frame.columns)}", source=source
            )
        return given
    for col in frame.columns:
        if attribute_column(str(col)) in ID_NAMES:
            return col
    raise DataValidationError(
        f"no prospect id column among {list(frame.columns)}; name it with --id-column "
        "(looked for customer_id, prospect_id, id, user_id, email)",
        source=source,
    )


def _allowed(con, workspace: Workspace, ids: pd.Series) -> np.ndarray:
    """Prospects who may be scored: not known customers, or customers permitted for ads;
    never an erased customer."""
    perm = permitted(con, "ads", directory=workspace.path)
    erased = perm.erased.format(column="id") if perm.erased else "TRUE"
    con.register("_lookalike_ids", pd.DataFrame({"id": ids.astype(str), "i": range(len(ids))}))
    try:
        rows = con.execute(
            f"""SELECT list(keep ORDER BY i) FROM (
                    SELECT i, CASE WHEN id IN (SELECT customer_id FROM customers)
                                   THEN {perm.where("id")} ELSE {erased} END AS keep
                    FROM _lookalike_ids)"""
        ).fetchall()
    finally:
        con.unregister("_lookalike_ids")
    return np.asarray(rows[0][0] or [], dtype=bool)


def lookalike(
    workspace: Workspace,
    prospects: str | Path,
    like: str,
    *,
    output: str | Path | None = None,
    top: str | int = "10%",
    id_column: str | None = None,
    run_id: int | None = None,
    drop: tuple[str, ...] = (),
    actor: str | None = None,
) -> LookalikeExport:
    """Score the prospects in ``prospects`` by how closely they resemble the customers ``like``
    names (a segment, micro-segment or flag of the run), and write the top ones.

    Parameters
    ----------
    workspace : Workspace
    prospects : str or Path
        CSV, Parquet, JSON lines or XLSX: an id column and attribute columns named like the
        customers' (browsing columns where known).
    like : str
        See :func:`segmint.activate.selection.select`.
    output : str or Path, optional
        CSV or Parquet (by its ending) of ``prospect_id, score, rank``; written atomically.
        None: returned as ``frame``.
    top : str or int
        ``"10%"`` or a number of prospects.
    id_column : str, optional
        The prospects' id column (found by name when not given).
    run_id : int, optional
        The run (latest by default).
    drop : tuple of str
        Attributes left out of the model (one that defines the chosen customers would leak).
    """
    source = str(prospects)
    fmt = "parquet" if output and str(output).lower().endswith(".parquet") else "csv"
    with workspace.transaction() as con:
        run = get_run(con, run_id)
        selection = select(con, run["run_id"], like)
        members = con.execute(selection.members, list(selection.params)).df()["customer_id"]
        opened = open_source(con, prospects, _VIEW)
        columns = ", ".join('"' + c.replace('"', '""') + '"' for c in opened.columns)
        try:
            frame = con.execute(f'SELECT {columns} FROM "{_VIEW}"').df()
        finally:
            close_source(con, _VIEW)
        ids_col = _id_column(frame, id_column, source)
        customers, kinds, countries = customer_frame(con, run["run_id"])
        encoded = encode_prospects(
            frame,
            id_column=ids_col,
            kinds=kinds,
            countries=countries,
            web_columns=browsing_columns(customers),
            drop=tuple(drop),
            source=source,
        )
        allowed = _allowed(con, workspace, frame[ids_col])
        chosen = customers.index.isin(members).astype(bool)
        keep = allowed & frame[ids_col].notna().to_numpy()
        if not keep.any():
            raise SegmintError(f"no prospect in {source} may be scored (all are withheld)")
        scores, features = score_prospects(
            customers,
            chosen,
            type(encoded)(encoded.frame[keep], encoded.used, encoded.ignored),
            frame.loc[keep, ids_col],
        )
        n = top_share(scores["score"].to_numpy(), top)
        best = scores.head(n)
        if output is not None:
            con.register("_lookalike_top", best)
            try:
                export_query(con, "SELECT * FROM _lookalike_top", [], output, fmt)
            finally:
                con.unregister("_lookalike_top")
        result = LookalikeExport(
            path=Path(output) if output else None,
            like=selection.label,
            run_id=int(run["run_id"]),
            scored=len(scores),
            written=len(best),
            skipped=int((~keep).sum()),
            positives=int(chosen.sum()),
            customers=len(customers),
            features=features,
            columns_used=encoded.used,
            columns_ignored=encoded.ignored,
            frame=None if output else best,
        )
        record(
            con,
            workspace.path,
            actor=actor or local_actor(),
            action="lookalike",
            purpose="ads",
            target=f"prospects like {selection.label} of run {run['run_id']}"
            + (f" to {Path(output).name}" if output else ""),
            rows=len(best),
            detail={"scored": result.scored, "skipped": result.skipped, "features": features},
        )
    return result
