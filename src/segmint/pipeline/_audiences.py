"""Audience exports: a segment's customers, through consent, to a marketing tool's file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from segmint.activate import audiences
from segmint.activate.selection import select
from segmint.consent.audit import local_actor, record
from segmint.consent.permitted import permitted
from segmint.consent.pseudonym import destination_key, pseudonym_sql
from segmint.errors import AudienceTooSmall, SegmintError
from segmint.pipeline._campaigns import campaign
from segmint.store.exports import export_query
from segmint.store.runs import get_run
from segmint.store.workspace import Workspace


@dataclass(frozen=True)
class AudienceResult:
    """An audience written: where, how many customers, and how many were withheld and why."""

    path: Path
    platform: str
    segment: str
    purpose: str
    rows: int
    withheld: dict[str, int] = field(default_factory=dict)
    ids: str = ""

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "platform": self.platform,
            "segment": self.segment,
            "purpose": self.purpose,
            "rows": self.rows,
            "withheld": self.withheld,
            "ids": self.ids,
        }


#: merge fields of the email tools, by customer: segment name, CLV, top category, top three
#: recommendations where ``segmint recommend`` stored them
def _fields_sql(con, run_id: int) -> str:
    has_recs = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'recommendations'"
    ).fetchall()[0][0]
    recommended = (
        f"""(SELECT string_agg(coalesce(description, product_id), '; ' ORDER BY rank)
             FROM recommendations r WHERE r.run_id = {run_id} AND r.customer_id = a.customer_id
               AND r.rank <= 3)"""
        if has_recs
        else "NULL::VARCHAR"
    )
    return f"""SELECT a.customer_id, s.name AS segment, round(p.clv, 2) AS clv,
                      p.top_category, {recommended} AS recommended
               FROM assignments a
               JOIN segments s ON s.run_id = a.run_id AND s.segment_id = a.segment_id
               LEFT JOIN predictions p ON p.run_id = a.run_id AND p.customer_id = a.customer_id
               WHERE a.run_id = {run_id}"""


def export_audience(
    workspace: Workspace,
    segment: str,
    path: str | Path,
    *,
    fmt: str = "csv",
    run_id: int | None = None,
    campaign_name: str | None = None,
    purpose: str | None = None,
    default_country: str | None = None,
    actor: str | None = None,
) -> AudienceResult:
    """Write the audience ``segment`` names in ``fmt`` (google, meta, mailchimp, klaviyo,
    csv, parquet) to ``path``, atomically.

    Customers are withheld, and counted by reason, when the campaign holds them out
    (``holdout``), when the format's purpose is not permitted for them (``consent``: ads for
    Google and Meta, email for Mailchimp and Klaviyo, ``purpose`` for csv and parquet), and,
    for the tools, when no usable email or phone is known (``no contact``). An audience
    smaller than the minimum audience size is refused and nothing is written. Contact data is
    normalised and hashed per platform (Google, Meta), sent as it is to the email tools, and
    left out of csv and parquet, whose ids are this destination's pseudonyms. The export is
    recorded in the audit log.
    """
    target = audiences.platform(fmt)
    if target.purpose and purpose not in (None, target.purpose):
        raise SegmintError(
            f"{target.name} audiences are used for {target.purpose}; --purpose applies to csv "
            "and parquet"
        )
    purpose = target.purpose or purpose or "analytics"
    default_code = audiences.calling_code(default_country)
    if default_country and default_code is None:
        raise SegmintError(
            f"--default-country {default_country!r} is not a two-letter country code (e.g. GB)"
        )
    destination = f"audience:{target.name}"
    with workspace.transaction() as con:
        run = get_run(con, run_id)
        chosen = select(con, run["run_id"], segment)
        members, params = chosen.members, list(chosen.params)
        withheld: dict[str, int] = {}
        total = chosen.size(con)
        if campaign_name is not None:
            found = campaign(con, campaign_name)
            if (found["kind"], found["key"], found["run_id"]) != (
                chosen.kind,
                chosen.key,
                run["run_id"],
            ):
                raise SegmintError(
                    f"campaign {campaign_name!r} is for {found['label']!r} of run "
                    f"{found['run_id']}, not {chosen.label!r} of run {run['run_id']}"
                )
            members = "SELECT customer_id FROM campaign_members WHERE name = ? AND NOT holdout"
            params = [campaign_name]
            withheld["holdout"] = (
                total - con.execute(f"SELECT count(*) FROM ({members})", params).fetchall()[0][0]
            )
        perm = permitted(con, purpose, directory=workspace.path)
        before = con.execute(f"SELECT count(*) FROM ({members})", params).fetchall()[0][0]
        members = f"SELECT customer_id FROM ({members}) WHERE {perm.where()}"
        after = con.execute(f"SELECT count(*) FROM ({members})", params).fetchall()[0][0]
        withheld["consent"] = before - after
        query, query_params, kept = _layout(con, target, run["run_id"], members, params,
                                            default_code, workspace, destination)  # fmt: skip
        withheld["no contact"] = after - kept
        if kept < perm.min_audience:
            reasons = ", ".join(f"{v} {k}" for k, v in withheld.items() if v)
            raise AudienceTooSmall(
                f"the {target.name} audience of {chosen.label!r} would hold {kept} customers "
                f"(withheld: {reasons or 'none'}), under the minimum audience of "
                f"{perm.min_audience} (`segmint consent settings --min-audience`); nothing written"
            )
        export_query(con, query, query_params, path, target.file_format)
        ids = {
            "google": "SHA-256 of normalised email and phone",
            "meta": "SHA-256 of normalised email and phone",
            "mailchimp": "email addresses (email consent)",
            "klaviyo": "email addresses and phone numbers (email consent)",
        }.get(target.name, f"pseudonymised ({destination})")
        record(
            con,
            workspace.path,
            actor=actor or local_actor(),
            action="audience.export",
            purpose=purpose,
            target=f"{target.name} audience of {chosen.label} (run {run['run_id']}) to "
            f"{Path(path).name}",
            rows=kept,
            detail={"withheld": withheld, "campaign": campaign_name, "ids": ids},
        )
    return AudienceResult(Path(path), target.name, chosen.label, purpose, kept, withheld, ids)


def _layout(con, target, run_id, members, params, default_code, workspace, destination):
    """The export's query, parameters and row count for ``target``."""
    if not target.needs:
        ids, id_params = pseudonym_sql(
            "customer_id", destination_key(con, workspace.path, destination)
        )
        fields = _fields_sql(con, run_id)
        query = f"""SELECT {ids} AS customer_id, f.segment, a.micro_segment_id, f.clv,
                           f.top_category, f.recommended
                    FROM ({members}) m
                    JOIN ({fields}) f USING (customer_id)
                    JOIN assignments a ON a.run_id = {run_id} AND a.customer_id = m.customer_id"""
        all_params = [*id_params, *params]
        rows = con.execute(f"SELECT count(*) FROM ({members})", params).fetchall()[0][0]
        return query, all_params, rows
    audiences.register_regions(con)
    contacts = audiences.contacts_sql(members, default_code)
    normalised = f"""SELECT *, {audiences.email_sql("email", google=False)} AS email_n,
                            {audiences.email_sql("email", google=True)} AS email_g,
                            {audiences.phone_digits_sql("phone", "calling_code")} AS phone_n
                     FROM ({contacts})"""
    usable = " OR ".join(
        "email_n IS NOT NULL" if need == "email" else "phone_n IS NOT NULL" for need in target.needs
    )
    reachable = f"SELECT * FROM ({normalised}) WHERE {usable}"
    query = audiences.layout_sql(target.name, reachable, _fields_sql(con, run_id))
    rows = con.execute(f"SELECT count(*) FROM ({reachable})", params).fetchall()[0][0]
    return query, params, rows
