"""Conversations per customer, from the ``messages`` table: one Ibis query for every engine.

A message belongs to its ``conversation_id``; messages without one are grouped by customer
and channel into conversations that end after a day without a message. What the text says
comes from :mod:`segmint.text` as one row per message (``message_id``, ``sentiment`` in
[-1, 1], ``topic``), computed on the driver and joined here. Columns (all ``chat_*``):

- ``chat_conversations``, ``chat_messages_per_conversation``;
- ``chat_inbound_share``: messages written by the customer;
- ``chat_response_minutes``: mean minutes from a customer's message to the next reply
  (agent or bot) in the conversation;
- ``chat_unresolved_share``: conversations whose last message is the customer's (no reply);
- ``chat_escalation_share``: conversations handed from the bot to a human agent;
- ``chat_sentiment``: mean sentiment of the customer's messages;
- ``chat_complaint_share``: the customer's messages that are clearly negative;
- ``chat_topic_<k>``: the customer's messages on topic k (one column per topic);
- ``chat_intent_<intent>``: the customer's messages with that intent, when labelled examples
  of intents are given (one column per intent);
- ``chat_days_since``: days from the last message to ``as_of``.

Customers with no message have no row; the caller marks them (``has_chats``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import ibis
import ibis.expr.types as ir

from segmint.engine import Engine
from segmint.features._backend import share
from segmint.features.labels import slugify
from segmint.features.web import sessionised

#: messages of one customer and channel without a conversation id belong to one conversation
#: unless a day passes between them
CONVERSATION_GAP_SECONDS = 24 * 3600


def intent_column(intent: str) -> str:
    """The column of an intent's share of a customer's messages."""
    return f"chat_intent_{slugify(intent)[:40]}"


#: a customer message at or below this sentiment counts as a complaint
COMPLAINT_SENTIMENT = -0.3


def conversation_features(
    engine: Engine,
    messages: ir.Table,
    as_of: datetime,
    annotations: ir.Table | None = None,
    topics: Sequence[int] = (),
    intents: Sequence[str] = (),
) -> ir.Table:
    """The ``chat_*`` columns per customer (see the module), as an unexecuted query.

    ``messages`` has resolved customer ids; ``annotations`` is the text's
    ``(message_id, sentiment, topic, intent)``, with ``topics`` the topic numbers and
    ``intents`` the intents to give columns.
    """
    messages = messages.filter(messages["ts"] < as_of)
    derived = sessionised(
        engine,
        messages.rename(event_id="message_id").mutate(
            thread=messages["customer_id"].concat("|", messages["channel"].fill_null(""))
        ),
        CONVERSATION_GAP_SECONDS,
        key="thread",
    )
    derived = derived.mutate(
        conversation=derived["conversation_id"].fill_null(
            derived["thread"].concat("|", derived["session"].cast("string"))
        ),
        # a message of unknown author is the customer's (see ``sources._message_signals``)
        inbound=(derived["role"] == "customer").fill_null(True),
    )
    if annotations is not None:
        derived = derived.left_join(annotations, derived["event_id"] == annotations["message_id"])
        derived = derived.drop("message_id")
    else:
        derived = derived.mutate(
            sentiment=ibis.null("float64"), topic=ibis.null("int64"), intent=ibis.null("string")
        )
    order = ibis.window(
        group_by=derived["conversation"], order_by=[derived["seconds"], derived["event_id"]]
    )
    derived = derived.mutate(
        next_seconds=derived["seconds"].lead().over(order),
        next_inbound=derived["inbound"].lead().over(order),
        last_inbound=derived["inbound"]
        .last()
        .over(
            ibis.window(
                group_by=derived["conversation"],
                order_by=[derived["seconds"], derived["event_id"]],
                rows=(None, None),
            )
        ),
    )
    reply = derived["inbound"] & ~derived["next_inbound"].fill_null(True)
    derived = derived.mutate(
        wait=ibis.ifelse(reply, (derived["next_seconds"] - derived["seconds"]) / 60.0, ibis.null())
    )
    talks = derived.group_by(["customer_id", "conversation"]).aggregate(
        messages=derived.count(),
        unresolved=derived["last_inbound"].max(),
        bot=(derived["role"] == "bot").fill_null(False).max(),
        agent=(derived["role"] == "agent").fill_null(False).max(),
    )
    per_talk = talks.group_by("customer_id").aggregate(
        chat_conversations=talks.count(),
        chat_messages_per_conversation=talks["messages"].mean(),
        chat_unresolved_share=share(talks["unresolved"]),
        chat_escalation_share=share(talks["bot"] & talks["agent"]),
    )
    theirs = derived["inbound"]
    complaint = theirs & (derived["sentiment"] <= COMPLAINT_SENTIMENT)
    last_seconds = engine.epoch_seconds(ibis.literal(as_of))
    per_message = derived.group_by("customer_id").aggregate(
        chat_inbound_share=share(theirs),
        chat_response_minutes=derived["wait"].mean(),
        chat_sentiment=ibis.ifelse(theirs, derived["sentiment"], ibis.null()).mean(),
        n_theirs=theirs.cast("int64").sum(),
        n_complaints=complaint.fill_null(False).cast("int64").sum(),
        chat_days_since=(last_seconds - derived["seconds"].max()) / 86400.0,
        **{
            f"n_topic_{k}": (theirs & (derived["topic"] == k)).fill_null(False).cast("int64").sum()
            for k in topics
        },
        **{
            f"n_intent_{i}": (theirs & (derived["intent"] == name))
            .fill_null(False)
            .cast("int64")
            .sum()
            for i, name in enumerate(intents)
        },
    )
    theirs_count = per_message["n_theirs"].cast("float64")

    def of_theirs(count: ir.IntegerValue) -> ir.FloatingValue:
        return ibis.ifelse(theirs_count > 0, count / theirs_count, 0.0)

    joined = per_talk.inner_join(per_message, "customer_id")
    return joined.select(
        "customer_id",
        "chat_conversations",
        "chat_messages_per_conversation",
        "chat_inbound_share",
        chat_response_minutes=joined["chat_response_minutes"].fill_null(0.0),
        chat_unresolved_share=joined["chat_unresolved_share"],
        chat_escalation_share=joined["chat_escalation_share"],
        chat_sentiment=joined["chat_sentiment"].fill_null(0.0),
        chat_complaint_share=of_theirs(joined["n_complaints"]),
        **{f"chat_topic_{k}": of_theirs(joined[f"n_topic_{k}"]) for k in topics},
        **{
            intent_column(name): of_theirs(joined[f"n_intent_{i}"])
            for i, name in enumerate(intents)
        },
        chat_days_since=joined["chat_days_since"],
    )
