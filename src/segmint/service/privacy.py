"""What the service sends out about customers, filtered at the consent choke point.

Webhook notifications are made per webhook: only customers its purpose is permitted for, named
by the webhook's own pseudonym unless it was registered for raw ids (an admin's choice); what
consent withholds is counted on the webhook. The stream and the API's reads check the same
:class:`~segmint.consent.permitted.ConsentView`.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import duckdb

from segmint.consent.permitted import ConsentView
from segmint.consent.pseudonym import destination_key, pseudonym
from segmint.store.webhooks import list_webhooks

__all__ = ["customer_of", "route_notifications", "webhook_destination"]


def webhook_destination(webhook_id: str) -> str:
    """The pseudonym destination of a webhook: each has its own key."""
    return f"webhook:{webhook_id}"


def customer_of(message: dict) -> str | None:
    """The customer a stream or webhook message is about, if any (alerts are about segments)."""
    data = message.get("data")
    return data.get("customer_id") if isinstance(data, dict) else None


def route_notifications(
    con: duckdb.DuckDBPyConnection, directory: Path, view: ConsentView, messages: list[dict]
) -> tuple[list[dict], Counter]:
    """Messages about customers, made once per subscribed webhook the customer consented to
    (``webhook_id`` set: the outbox sends each to that webhook only); the others unchanged.
    Returns them and, per webhook, how many consent withheld."""
    if not any(customer_of(m) for m in messages):
        return messages, Counter()
    webhooks = list_webhooks(con)
    keys = {
        w["webhook_id"]: destination_key(con, directory, webhook_destination(w["webhook_id"]))
        for w in webhooks
        if not w["raw_ids"]
    }
    routed: list[dict] = []
    withheld: Counter = Counter()
    for message in messages:
        customer = customer_of(message)
        if customer is None:
            routed.append(message)
            continue
        for w in webhooks:
            if message["type"] not in w["event_types"]:
                continue
            if not view.allows(customer, w["purpose"]):
                withheld[w["webhook_id"]] += 1
                continue
            out = copy.deepcopy(message)
            out["webhook_id"] = w["webhook_id"]
            if not w["raw_ids"]:
                out["data"]["customer_id"] = pseudonym(keys[w["webhook_id"]], customer)
                out["data"]["customer_id_kind"] = "pseudonym"
            routed.append(out)
    return routed, withheld
