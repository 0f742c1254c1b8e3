"""Playbooks: what to do with each segment and micro-segment, as YAML files people edit.

``derive`` reads a run's segments with their traits and predictions and proposes, per
segment and micro-segment, an objective, an offer whose discount is bounded by the customers'
lifetime value, channels ranked by how many of the group can be reached there, a send time
from when the group buys, and a Jinja message template. ``write`` puts one file per segment
in the workspace's ``playbooks/`` folder; ``load`` reads them back (edited or not) and checks
every field, naming the file and field at fault. ``Playbooks.action`` turns an entry into the
finished action for one customer: the first channel they consented to and can be reached on,
their discount (never above their own value), the next send time and the rendered message.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import jinja2
import numpy as np
import pandas as pd
import yaml
from jinja2.sandbox import SandboxedEnvironment

from segmint.errors import DataValidationError
from segmint.files import atomic_path
from segmint.store.runs import features_table

OBJECTIVES = ("retain", "win back", "grow", "onboard", "upsell")
#: the consent purpose a channel is used under
CHANNEL_PURPOSE = {"email": "email", "sms": "sms", "ads": "ads", "web": "personalisation"}
#: what a customer needs beyond consent to be reached on a channel: an email address or a phone
#: number (identities), web or app events; None for nothing
CHANNEL_CONTACT = {"email": "email", "sms": "phone", "ads": None, "web": "web"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: how deep a discount each objective starts from, before the value bound
BASE_DISCOUNT = {"win back": 20, "retain": 15, "onboard": 10, "upsell": 10, "grow": 5}
#: the most of a customer's expected value an offer may give away
VALUE_SHARE = 0.2

_SUBJECTS = {
    "retain": "Something for you: {{ offer.discount_pct }}% off",
    "win back": "We miss you: {{ offer.discount_pct }}% off your return",
    "grow": "More {{ customer.top_category }} picked for you",
    "onboard": "Welcome: where to start",
    "upsell": "The next step up, {{ offer.discount_pct }}% off",
}
_OPENINGS = {
    "retain": "Thank you for shopping with us. Here is {{ offer.discount_pct }}% off your "
    "next order (up to {{ offer.max_discount }}).",
    "win back": "It has been a while. Come back to {{ offer.discount_pct }}% off "
    "(up to {{ offer.max_discount }}).",
    "grow": "You know what you like in {{ customer.top_category }}. A little extra: "
    "{{ offer.discount_pct }}% off (up to {{ offer.max_discount }}).",
    "onboard": "Thanks for your first orders. To help you find more: "
    "{{ offer.discount_pct }}% off your next one (up to {{ offer.max_discount }}).",
    "upsell": "Customers like you are trying these. Take {{ offer.discount_pct }}% off "
    "(up to {{ offer.max_discount }}).",
}
_RECOMMENDED = (
    "{% if recommendations %}\nWe think you will like:\n"
    "{% for item in recommendations[:3] %}- {{ item.description or item.product_id }}\n"
    "{% endfor %}{% endif %}"
)


def _template(objective: str) -> str:
    return f"Hi {{{{ customer.first_name }}}},\n\n{_OPENINGS[objective]}\n{_RECOMMENDED}"


# ---------------------------------------------------------------- what the data says of a group


def group_stats(con: duckdb.DuckDBPyConnection, run_id: int) -> pd.DataFrame:
    """One row per segment (``micro_segment_id`` null) and per micro-segment of run ``run_id``
    (all its customers, whatever their segment; ``segment_id`` is the segment most of them are
    in): size, value, risk, recency and tenure, reach by channel and when the group buys."""
    features = features_table(run_id)
    has_predictions = bool(
        con.execute("SELECT count(*) FROM predictions WHERE run_id = ?", [run_id]).fetchall()[0][0]
    )
    predicted = (
        """avg(p.clv) AS clv, avg(p.churn_risk) AS churn_risk, avg(p.p_alive) AS p_alive,
           avg(CAST(p.at_risk AS DOUBLE)) AS at_risk_share,
           avg(CAST(p.high_value AS DOUBLE)) AS high_value_share"""
        if has_predictions
        else """NULL::DOUBLE AS clv, NULL::DOUBLE AS churn_risk, NULL::DOUBLE AS p_alive,
           NULL::DOUBLE AS at_risk_share, NULL::DOUBLE AS high_value_share"""
    )
    columns = {r[0] for r in con.execute(f"DESCRIBE {features}").fetchall()}
    feature = {
        name: (f"f.{name}" if name in columns else "NULL::DOUBLE")
        for name in ("recency_days", "frequency", "monetary", "tenure_days", "avg_order_value")
    }
    stats = con.execute(
        f"""
        WITH members AS (
            SELECT a.customer_id, a.segment_id, a.micro_segment_id FROM assignments a
            WHERE a.run_id = ?
        ),
        contact AS (
            SELECT customer_id, bool_or(kind = 'email') AS email, bool_or(kind = 'phone') AS phone
            FROM identities WHERE customer_id IN (SELECT customer_id FROM members)
            GROUP BY customer_id
        ),
        web AS (
            SELECT DISTINCT customer_id FROM events
            WHERE customer_id IN (SELECT customer_id FROM members)
        ),
        hours AS (
            SELECT m.segment_id, m.micro_segment_id, hour(t.ts) AS hour,
                   isodow(t.ts) - 1 AS weekday
            FROM transactions t JOIN members m USING (customer_id)
            WHERE NOT t.is_return
        ),
        timing AS (
            SELECT segment_id, micro_segment_id, mode(hour) AS hour, mode(weekday) AS weekday,
                   count(DISTINCT hour) AS distinct_hours
            FROM hours GROUP BY GROUPING SETS ((segment_id), (micro_segment_id))
        ),
        groups AS (
            SELECT m.segment_id, m.micro_segment_id, count(*) AS size,
                   median({feature["recency_days"]}) AS recency_days,
                   median({feature["frequency"]}) AS frequency,
                   median({feature["tenure_days"]}) AS tenure_days,
                   avg({feature["avg_order_value"]}) AS avg_order_value,
                   avg({feature["monetary"]}) AS monetary,
                   avg(CAST(coalesce(c.email, false) AS DOUBLE)) AS reach_email,
                   avg(CAST(coalesce(c.phone, false) AS DOUBLE)) AS reach_sms,
                   avg(CAST(w.customer_id IS NOT NULL AS DOUBLE)) AS reach_web,
                   {predicted}
            FROM members m
            LEFT JOIN {features} f USING (customer_id)
            LEFT JOIN predictions p ON p.run_id = ? AND p.customer_id = m.customer_id
            LEFT JOIN contact c ON c.customer_id = m.customer_id
            LEFT JOIN web w ON w.customer_id = m.customer_id
            GROUP BY GROUPING SETS ((m.segment_id), (m.micro_segment_id))
        )
        SELECT g.* EXCLUDE (segment_id), t.hour, t.weekday, t.distinct_hours,
               coalesce(ms.name, s.name) AS name, s.segment_id
        FROM groups g
        LEFT JOIN timing t ON t.segment_id IS NOT DISTINCT FROM g.segment_id
             AND t.micro_segment_id IS NOT DISTINCT FROM g.micro_segment_id
        LEFT JOIN micro_segments ms ON ms.run_id = ? AND ms.micro_segment_id = g.micro_segment_id
        JOIN segments s ON s.run_id = ? AND s.segment_id = coalesce(g.segment_id, ms.segment_id)
        WHERE NOT (g.micro_segment_id IS NULL AND g.size = 0)
        ORDER BY s.segment_id, g.micro_segment_id NULLS FIRST
        """,
        [run_id, run_id, run_id, run_id],
    ).df()
    overall = con.execute(f"SELECT median({feature['recency_days']}) FROM {features} f").fetchall()[
        0
    ][0]
    stats["overall_recency_days"] = overall
    return stats


# ---------------------------------------------------------------- proposals


def _number(value: object) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def objective_for(row: dict) -> tuple[str, str]:
    """The objective a group's numbers suggest, and why (in words a marketer reads)."""
    recency = _number(row.get("recency_days"))
    overall = _number(row.get("overall_recency_days"))
    p_alive = _number(row.get("p_alive"))
    at_risk = _number(row.get("at_risk_share"))
    churn = _number(row.get("churn_risk"))
    tenure = _number(row.get("tenure_days"))
    frequency = _number(row.get("frequency"))
    high_value = _number(row.get("high_value_share"))
    if (p_alive is not None and p_alive < 0.4) or (
        recency is not None and overall and recency > 2.5 * overall and recency > 120
    ):
        what = (
            f"probably lapsed: chance still active {p_alive:.0%}"
            if p_alive is not None and p_alive < 0.4
            else f"last bought {recency:.0f} days ago in the median (overall {overall:.0f})"
        )
        return "win back", what
    if (at_risk is not None and at_risk >= 0.25) or (churn is not None and churn >= 0.5):
        what = (
            f"{at_risk:.0%} of them are at risk"
            if at_risk is not None and at_risk >= 0.25
            else f"average churn risk {churn:.0%}"
        )
        return "retain", what
    if tenure is not None and tenure < 120 and (frequency or 0) <= 2:
        return "onboard", f"new: {tenure:.0f} days since the first order, {frequency:.0f} orders"
    if high_value is not None and high_value >= 0.3:
        return "grow", f"{high_value:.0%} of them are high-value and active"
    return "upsell", "active, with room to grow their spend"


def offer_for(row: dict, objective: str) -> dict:
    """The offer: a percentage discount from the objective, bounded so that on an average
    order it gives away at most ``VALUE_SHARE`` of the group's expected value (CLV, or the
    spend so far where there are no predictions)."""
    clv = _number(row.get("clv"))
    basis = "expected lifetime value" if clv is not None else "spend so far (no predictions)"
    value = clv if clv is not None else (_number(row.get("monetary")) or 0.0)
    aov = _number(row.get("avg_order_value")) or 0.0
    budget = max(VALUE_SHARE * max(value, 0.0), 0.0)
    depth = BASE_DISCOUNT[objective]
    if aov > 0:
        depth = min(depth, int(100 * budget / aov))
    depth = max(depth, 0)
    return {
        "kind": "percent_off" if depth else "none",
        "discount_pct": depth,
        "max_discount": round(budget, 2),
        "why": (
            f"{BASE_DISCOUNT[objective]}% for {objective}, bounded to {VALUE_SHARE:.0%} of the "
            f"average {basis} {value:,.2f} on an average order of {aov:,.2f}"
        ),
    }


def channels_for(row: dict) -> tuple[list[str], str]:
    """Channels ranked by the share of the group reachable there (ads reach everyone who
    consented); those reaching under a fifth are left out."""
    reach = {
        "email": _number(row.get("reach_email")) or 0.0,
        "sms": _number(row.get("reach_sms")) or 0.0,
        "web": _number(row.get("reach_web")) or 0.0,
    }
    ranked = [c for c, share in sorted(reach.items(), key=lambda kv: -kv[1]) if share >= 0.2]
    why = ", ".join(f"{c} reaches {share:.0%}" for c, share in reach.items())
    return [*ranked, "ads"], why


def send_time_for(row: dict) -> dict:
    """When the group buys most (modal weekday and hour of its orders); 10:00 on Tuesday
    when the data holds dates without times."""
    hour = _number(row.get("hour"))
    weekday = _number(row.get("weekday"))
    if hour is None or (_number(row.get("distinct_hours")) or 0) <= 1:
        return {"weekday": "Tuesday", "hour": 10, "why": "the orders carry no time of day"}
    return {
        "weekday": WEEKDAYS[int(weekday)],
        "hour": int(hour),
        "why": "when this group orders most",
    }


def derive_entry(row: dict) -> dict:
    """The proposed playbook entry for one group (a row of :func:`group_stats`)."""
    objective, why = objective_for(row)
    channels, reach = channels_for(row)
    return {
        "name": row["name"],
        "size": int(row["size"]),
        "objective": objective,
        "why": why,
        "offer": offer_for(row, objective),
        "channels": channels,
        "channels_why": reach,
        "send_time": send_time_for(row),
        "subject": _SUBJECTS[objective],
        "template": _template(objective),
    }


def derive(stats: pd.DataFrame, min_audience: int) -> dict[int, dict]:
    """Playbooks per segment from :func:`group_stats`: the segment's entry and an entry per
    micro-segment centred in it (most of its customers are in it) of at least ``min_audience``
    customers (a smaller one's customers follow their own segment's, and it is not
    described)."""
    books: dict[int, dict] = {}
    rows = stats.replace({np.nan: None}).to_dict("records")
    for row in rows:
        if row["micro_segment_id"] is None:
            books[int(row["segment_id"])] = {
                "segment_id": int(row["segment_id"]),
                **derive_entry(row),
                "micro_segments": {},
            }
    for row in rows:
        if row["micro_segment_id"] is not None and row["size"] >= min_audience:
            books[int(row["segment_id"])]["micro_segments"][str(row["micro_segment_id"])] = (
                derive_entry(row)
            )
    return books


# ---------------------------------------------------------------- files


def file_name(segment_id: int) -> str:
    return f"segment-{segment_id}.yaml"


def _literal(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(str, _literal)


def write(directory: Path, books: dict[int, dict], run_id: int, *, force: bool) -> list[Path]:
    """Write one YAML file per segment under ``directory``; existing files are kept (they
    may hold edits) unless ``force``. Returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for segment_id, book in books.items():
        path = directory / file_name(segment_id)
        if path.exists() and not force:
            continue
        header = (
            f"# segmint playbook for segment {segment_id} ({book['name']}), run {run_id}.\n"
            "# Edit freely: `segmint playbooks render` and the next-best-action API read it.\n"
            f"# objective: one of {', '.join(OBJECTIVES)}; channels: tried in order, a customer\n"
            "# gets the first they consented to and can be reached on; discounts never exceed\n"
            "# the customer's own expected value. Templates are Jinja with customer, segment,\n"
            "# offer and recommendations.\n"
        )
        body = yaml.dump(
            {"run_id": run_id, **book}, Dumper=_Dumper, sort_keys=False, allow_unicode=True
        )
        with atomic_path(path) as tmp:
            tmp.write_text(header + body, encoding="utf-8")
        written.append(path)
    return written


@dataclass(frozen=True)
class Entry:
    """One checked playbook entry, its templates compiled."""

    key: str  # "3" or "3.1"
    name: str
    objective: str
    why: str
    offer: dict
    channels: tuple[str, ...]
    send_time: dict
    subject: jinja2.Template
    template: jinja2.Template
    source: str  # "segment-3.yaml" or "segment-3.yaml#3.1"


_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


def _check_entry(raw: object, where: str, key: str) -> Entry:
    def fail(field: str, expected: str) -> DataValidationError:
        return DataValidationError(f"{where}: field {field!r} {expected}")

    if not isinstance(raw, dict):
        raise fail(key, "must be a mapping")
    objective = raw.get("objective")
    if objective not in OBJECTIVES:
        raise fail("objective", f"is {objective!r}; expected one of {', '.join(OBJECTIVES)}")
    offer = raw.get("offer") or {}
    if not isinstance(offer, dict):
        raise fail("offer", "must be a mapping with discount_pct and max_discount")
    pct, cap = offer.get("discount_pct", 0), offer.get("max_discount", 0)
    if not isinstance(pct, int | float) or not 0 <= pct <= 90:
        raise fail("offer.discount_pct", f"is {pct!r}; expected a number from 0 to 90")
    if not isinstance(cap, int | float) or cap < 0:
        raise fail("offer.max_discount", f"is {cap!r}; expected a number >= 0")
    channels = raw.get("channels")
    if (
        not isinstance(channels, list)
        or not channels
        or any(c not in CHANNEL_PURPOSE for c in channels)
    ):
        raise fail("channels", f"is {channels!r}; expected a list of {', '.join(CHANNEL_PURPOSE)}")
    send = raw.get("send_time") or {}
    if send.get("weekday") not in WEEKDAYS or send.get("hour") not in range(24):
        raise fail("send_time", "needs weekday (Monday..Sunday) and hour (0..23)")
    templates = []
    for field in ("subject", "template"):
        text = raw.get(field)
        if not isinstance(text, str):
            raise fail(field, "must be text (a Jinja template)")
        try:
            templates.append(_ENV.from_string(text))
        except jinja2.TemplateSyntaxError as exc:
            raise fail(
                field, f"is not a valid template: {exc.message} (line {exc.lineno})"
            ) from None
    return Entry(
        key=key,
        name=str(raw.get("name", key)),
        objective=objective,
        why=str(raw.get("why", "")),
        offer={"discount_pct": float(pct), "max_discount": float(cap), **offer},
        channels=tuple(channels),
        send_time={"weekday": send["weekday"], "hour": int(send["hour"])},
        subject=templates[0],
        template=templates[1],
        source=where,
    )


@dataclass
class Playbooks:
    """The playbooks of a workspace: an entry per segment and per described micro-segment."""

    run_id: int | None
    segments: dict[int, Entry]
    micro: dict[str, Entry]
    derived: bool  # True when nobody wrote the files: the proposals are used as they are

    def entry(self, segment_id: int | None, micro_segment_id: str | None) -> Entry | None:
        """The micro-segment's entry where it has one, else its segment's."""
        if micro_segment_id is not None and micro_segment_id in self.micro:
            return self.micro[micro_segment_id]
        return self.segments.get(segment_id) if segment_id is not None else None

    def action(
        self,
        entry: Entry,
        customer: dict,
        *,
        segment: dict,
        recommendations: list[dict],
        reachable: Callable[[str], bool],
        now: datetime,
    ) -> dict:
        """The finished action of ``entry`` for one customer.

        ``customer`` holds ``id`` and, where known, ``first_name``, ``clv``,
        ``avg_order_value``, ``top_category``; ``reachable(channel)`` says whether the customer
        consented to the channel's purpose and can be reached on it.
        """
        channel = next((c for c in entry.channels if reachable(c)), None)
        offer = customer_offer(entry.offer, customer)
        context = {
            "customer": {"first_name": "there", "top_category": "our range", **customer},
            "segment": segment,
            "offer": offer,
            "recommendations": recommendations,
        }
        try:
            subject = entry.subject.render(context).strip()
            message = entry.template.render(context).strip()
        except jinja2.TemplateError as exc:
            raise DataValidationError(f"{entry.source}: the template failed: {exc}") from exc
        return {
            "objective": entry.objective,
            "channel": channel,
            "send_at": next_send(now, entry.send_time).isoformat(timespec="minutes"),
            "offer": offer,
            "subject": subject,
            "message": message,
            "playbook": entry.source,
        }


def customer_offer(offer: dict, customer: dict) -> dict:
    """The entry's offer for one customer: its cap lowered to a share of their own expected
    value, so no customer is given more than they are worth."""
    cap = offer["max_discount"]
    clv = _number(customer.get("clv"))
    if clv is not None:
        cap = min(cap, VALUE_SHARE * max(clv, 0.0))
    pct = offer["discount_pct"] if cap > 0 else 0.0
    return {
        "kind": offer.get("kind", "percent_off") if pct else "none",
        "discount_pct": round(pct, 1),
        "max_discount": round(cap, 2),
    }


def next_send(now: datetime, send_time: dict) -> datetime:
    """The next moment at the entry's weekday and hour, after ``now``."""
    target = WEEKDAYS.index(send_time["weekday"])
    at = now.replace(hour=send_time["hour"], minute=0, second=0, microsecond=0)
    at += timedelta(days=(target - now.weekday()) % 7)
    return at if at > now else at + timedelta(days=7)


def load(directory: Path) -> Playbooks | None:
    """The checked playbooks under ``directory``, or None when there are none."""
    paths = sorted(directory.glob("segment-*.yaml")) if directory.is_dir() else []
    if not paths:
        return None
    segments: dict[int, Entry] = {}
    micro: dict[str, Entry] = {}
    run_ids = set()
    for path in paths:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise DataValidationError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("segment_id"), int):
            raise DataValidationError(f"{path}: field 'segment_id' must be a segment id")
        run_ids.add(raw.get("run_id"))
        segments[raw["segment_id"]] = _check_entry(raw, path.name, str(raw["segment_id"]))
        for key, sub in (raw.get("micro_segments") or {}).items():
            micro[str(key)] = _check_entry(sub, f"{path.name}#{key}", str(key))
    return Playbooks(run_ids.pop() if len(run_ids) == 1 else None, segments, micro, False)


def from_books(books: dict[int, dict], run_id: int) -> Playbooks:
    """Playbooks straight from :func:`derive` (nobody wrote the files yet)."""
    segments = {sid: _check_entry(b, file_name(sid), str(sid)) for sid, b in books.items()}
    micro = {
        key: _check_entry(sub, f"{file_name(sid)}#{key}", key)
        for sid, b in books.items()
        for key, sub in b["micro_segments"].items()
    }
    return Playbooks(run_id, segments, micro, True)
