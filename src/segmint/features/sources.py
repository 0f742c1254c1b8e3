"""Every source beyond purchases, per customer: web/app, conversations, devices, social.

:func:`source_features` resolves identities (:mod:`segmint.features.identity`), reads what
the messages and social posts say (:mod:`segmint.text`, on the driver: one row per message),
and runs each source's feature group on the engine. A source is used when it covers at least
:data:`MIN_COVERAGE` of the customers being segmented, or when asked for by name. Each group
comes with its coverage column (``has_web``, ...): a customer with no chats is "no chats",
and the group's other columns are missing (not zero) for them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from segmint.engine import Engine
from segmint.errors import DataValidationError
from segmint.features.conversations import conversation_features
from segmint.features.devices import device_features
from segmint.features.identity import MAX_CUSTOMERS, resolve_identities, resolved
from segmint.features.labels import SOURCE_COLUMNS, slugify
from segmint.features.social import social_features
from segmint.features.web import web_features
from segmint.text import IntentClassifier, TopicModel, sentiment

#: the sources, each with its coverage column, in the order their columns come
SOURCES = {name: coverage for name, (_, coverage) in SOURCE_COLUMNS.items()}

#: how many standardised features each source weighs as when segments are found: its
#: columns share this weight (a source of twenty columns does not drown one of five, nor
#: the purchases' dozen)
SOURCE_WEIGHT = 6.0

#: how many standardised features whether a customer has a source at all weighs as: who owns
#: a connected device, or never contacts support, is often the first thing that sets a group
#: apart, while the source's features say nothing for those it does not cover (they are
#: imputed)
COVERAGE_WEIGHT = 2.0

#: share of the customers a source must cover to be used without being asked for
MIN_COVERAGE = 0.05

#: topics found in customers' messages at most (each becomes a ``chat_topic_*`` column)
TOPIC_RANGE = (3, 12)

#: customers' messages the topics are fitted on at most (a random sample above it)
TOPIC_FIT_SAMPLE = 50_000


@dataclass
class SourceFeatures:
    """Each used source's columns per customer, and what the text said."""

    #: source -> its table (``customer_id`` first), only for customers the source covers
    tables: dict[str, pa.Table] = field(default_factory=dict)
    #: source -> share of the given customers it covers (every source with any data)
    coverage: dict[str, float] = field(default_factory=dict)
    #: the topics of the customers' messages, as :meth:`TopicModel.to_dict`, when fitted
    topics: dict | None = None
    #: ``chat_topic_*`` column -> the topic's name (its most distinctive words)
    topic_names: dict[str, str] = field(default_factory=dict)

    def frame(self, customer_ids: pd.Index) -> pd.DataFrame:
        """Every used source's columns, then its coverage column (1.0 for a customer it
        covers, else 0.0, the other columns missing), for ``customer_ids`` in order."""
        parts = []
        for name, table in self.tables.items():
            group = table.to_pandas().set_index("customer_id").reindex(customer_ids)
            # coverage is a feature of its own: "no chats" is not "chats, all zero"
            group[SOURCES[name]] = customer_ids.isin(table.column("customer_id").to_pandas())
            parts.append(group.astype("float64"))
        if not parts:
            return pd.DataFrame(index=customer_ids)
        return pd.concat(parts, axis=1)


def _rows_or_none(engine: Engine, table):
    """``table`` when it has a row, else None."""
    if table is None or engine.to_arrow(table.select(table.columns[0]).limit(1)).num_rows == 0:
        return None
    return table


def _with_chat_events(engine: Engine, messages, events):
    """The messages, with the ``chat_message`` events the service received as messages of
    their own (their properties carry text, role, channel and conversation)."""
    chats = events.filter(events["type"] == "chat_message")
    props = chats["properties"]
    as_messages = chats.select(
        message_id=chats["event_id"].cast("string"),
        conversation_id=engine.json_text(props, "conversation_id"),
        customer_id=chats["customer_id"].cast("string"),
        ts=chats["ts"],
        channel=engine.json_text(props, "channel").fill_null("chat"),
        role=engine.json_text(props, "role").fill_null("customer"),
        text=engine.json_text(props, "text"),
    ).filter(lambda t: t["text"].notnull())
    if messages is None:
        return as_messages
    schema = as_messages.schema()
    return messages.select(**{c: messages[c].cast(schema[c]) for c in as_messages.columns}).union(
        as_messages
    )


def _text_of(engine: Engine, table, id_column: str, where) -> pa.Table:
    return engine.to_arrow(table.filter(where).select(id_column, "text"))


class MessageSignals(NamedTuple):
    """What the customers' messages say (see :func:`_message_signals`)."""

    #: ``(message_id, sentiment, topic, intent)`` of every customer message; None: no message
    annotations: ibis.Table | None
    #: the topic numbers (a column each) and the topics' model and names
    topics: list[int]
    model: dict | None
    names: dict[str, str]
    #: the intents of the labelled examples (a column each; none without examples)
    intents: list[str]


def _message_signals(
    engine: Engine, messages, random_state: int, topics: dict | None, fit_topics: bool = True
) -> MessageSignals:
    """Sentiment, topic and intent of every customer message (``topics``: a fitted model's
    dict to predict with instead of fitting one; without it and ``fit_topics``, no topics)."""
    theirs = _text_of(
        engine,
        messages,
        "message_id",
        # a message of unknown author is the customer's: exports of what customers wrote
        # often carry no role
        ((messages["role"] == "customer") | messages["role"].isnull()) & messages["text"].notnull(),
    )
    if theirs.num_rows == 0:
        return MessageSignals(None, [], None, {}, [])
    # in a fixed order, so that topics are the same whichever engine returned the rows
    theirs = theirs.sort_by("message_id")
    texts = theirs.column("text").to_pylist()
    scores = sentiment(texts)
    intents, intent_names = _intents(engine, texts)
    found, fitted = np.full(len(texts), -1), None
    if topics is not None:
        fitted = TopicModel.from_dict(topics)
    elif fit_topics and len(set(texts)) > TOPIC_RANGE[0]:
        rng = np.random.default_rng(random_state)
        fit_on = (
            [texts[i] for i in rng.choice(len(texts), TOPIC_FIT_SAMPLE, replace=False)]
            if len(texts) > TOPIC_FIT_SAMPLE
            else texts
        )
        fitted = TopicModel(k_range=TOPIC_RANGE, random_state=random_state).fit(fit_on)
    model, names = None, {}
    if fitted is not None:
        found = fitted.predict(texts)
        model = fitted.to_dict()
        names = {f"chat_topic_{k}": name for k, name in enumerate(fitted.topic_names_)}
    annotations = pa.table(
        {
            "message_id": theirs.column("message_id"),
            "sentiment": pa.array(scores, pa.float64()),
            "topic": pa.array(found, pa.int64()),
            "intent": pa.array(intents, pa.string()),
        }
    )
    # every topic gets its column, also one nobody wrote about at an earlier cut-off
    return MessageSignals(
        ibis.memtable(annotations), list(range(len(names))), model, names, intent_names
    )


#: classifiers fitted in this process, by the labelled examples they learnt (a run reads
#: three cut-offs' messages with one)
_CLASSIFIERS: dict[str, IntentClassifier] = {}


def _intents(engine: Engine, texts: list[str]) -> tuple[list[str | None], list[str]]:
    """The intent of each message, learnt from the ``intents`` table's labelled examples, and
    the intents there are; None for every message, and none, without examples."""
    table = engine.table("intents")
    examples = None if table is None else engine.to_arrow(table.order_by(["intent", "text"]))
    if examples is None or examples.num_rows == 0:
        return [None] * len(texts), []
    labels = examples.column("intent").to_pylist()
    if len(set(labels)) < 2:
        raise DataValidationError(
            f"the intents table has examples of one intent only ({labels[0]!r}); give "
            "examples of at least two (segmint ingest intents FILE)"
        )
    key = hashlib.sha256(repr(examples.to_pydict()).encode()).hexdigest()
    if key not in _CLASSIFIERS:
        _CLASSIFIERS[key] = IntentClassifier().fit(examples.column("text").to_pylist(), labels)
    fitted = _CLASSIFIERS[key]
    return fitted.predict(texts).tolist(), [str(c) for c in fitted.classes_]


def _social_signals(engine: Engine, events) -> ibis.Table | None:
    social = events.filter(
        (events["source"] == "social") & events["type"].isin(("mention", "review"))
    )
    text = engine.json_text(social["properties"], "text")
    posts = engine.to_arrow(
        social.select("event_id", text=text).filter(lambda t: t["text"].notnull())
    )
    if posts.num_rows == 0:
        return None
    scores = sentiment(posts.column("text").to_pylist())
    return ibis.memtable(
        pa.table(
            {"event_id": posts.column("event_id"), "sentiment": pa.array(scores, pa.float64())}
        )
    )


def source_features(
    engine: Engine,
    as_of: datetime,
    customers: pa.Array,
    *,
    sources: Sequence[str] | None = None,
    max_customers: int = MAX_CUSTOMERS,
    random_state: int = 0,
    topics: dict | None = None,
    required: bool = True,
    identities: pd.DataFrame | None = None,
    restrict: bool = False,
) -> SourceFeatures:
    """The feature groups of every source that covers enough of ``customers``.

    Parameters
    ----------
    engine : Engine
        Holding ``events``, ``messages``, ``identities`` and ``transactions`` (missing tables
        are sources without data).
    as_of : datetime
        Only what happened before it counts.
    customers : pyarrow.Array
        The customers being segmented (their ids); coverage is measured on them.
    sources : sequence of str, optional
        The sources to use (names of :data:`SOURCES`), whatever their coverage; default:
        those covering at least :data:`MIN_COVERAGE`.
    max_customers : int
        The identity resolution cap (see :func:`resolve_identities`).
    random_state : int
        For the topics.
    topics : dict, optional
        Topics fitted before (:attr:`SourceFeatures.topics`, e.g. at a later cut-off) to
        predict with, so that two cut-offs' ``chat_topic_*`` columns mean the same.
    required : bool, default=True
        Whether a source named in ``sources`` without data is an error; an earlier cut-off
        passes False (a source may start after it: its customers are then all uncovered).
    identities : DataFrame, optional
        The identity resolution's mapping (:func:`resolve_identities`) to use instead of
        resolving again (the service resolves once and refreshes a few customers at a time).
    restrict : bool, default=False
        Read only the rows of ``customers`` (and of the identifiers resolving to them): for
        a few customers out of many. The chat topics are then not fitted (pass ``topics``).

    Raises
    ------
    DataValidationError
        A source asked for is unknown, or has no data before ``as_of``.
    """
    unknown = sorted(set(sources or ()) - set(SOURCES))
    if unknown:
        raise DataValidationError(
            f"unknown source(s) {', '.join(unknown)} in --sources; expected some of "
            + ", ".join(SOURCES)
        )
    result = SourceFeatures()
    # a workspace of purchases alone (most of them) costs two one-row reads, not every query
    events, messages = (_rows_or_none(engine, engine.table(t)) for t in ("events", "messages"))
    if events is not None:
        messages = _with_chat_events(engine, messages, events)
    transactions = engine.table("transactions")
    mapping = identities
    if mapping is None:
        mapping, _ = resolve_identities(engine, max_customers=max_customers)
    if restrict:
        events, messages, transactions = (
            None if t is None else t.semi_join(_raw_ids(customers, mapping), "customer_id")
            for t in (events, messages, transactions)
        )
    queries = {}
    if events is not None:
        events = resolved(engine, events, mapping)
        queries["web"] = lambda: web_features(engine, events, transactions, as_of)
        queries["devices"] = lambda: device_features(engine, events, as_of)
        queries["social"] = lambda: social_features(
            engine, events, as_of, _social_signals(engine, events.filter(events["ts"] < as_of))
        )
    if messages is not None:
        messages = resolved(engine, messages, mapping)

        def chats():
            before = messages.filter(messages["ts"] < as_of)
            said = _message_signals(engine, before, random_state, topics, not restrict)
            result.topics = said.model
            query = conversation_features(
                engine, before, as_of, said.annotations, said.topics, said.intents
            )
            renamed = {_topic_column(k, said.names): f"chat_topic_{k}" for k in said.topics}
            result.topic_names = {
                _topic_column(k, said.names): said.names[f"chat_topic_{k}"] for k in said.topics
            }
            return query.rename(renamed)

        queries["chats"] = chats
    wanted = set(sources or SOURCES)
    known = ibis.memtable(pa.table({"customer_id": customers}))
    for name, query in queries.items():
        if name not in wanted:
            continue
        table = query()
        table = table.semi_join(known, "customer_id")
        got = engine.to_arrow(table).sort_by("customer_id")
        if got.num_rows == 0:
            continue
        result.coverage[name] = got.num_rows / max(len(customers), 1)
        if sources is not None or result.coverage[name] >= MIN_COVERAGE:
            result.tables[name] = got
    missing = sorted(set(sources or ()) - set(result.tables))
    if missing and required:
        raise DataValidationError(
            f"no {', '.join(missing)} data before {as_of:%Y-%m-%d} for these customers; ingest "
            "it with segmint ingest events|messages FILE, or leave it out of --sources"
        )
    return result


def _raw_ids(customers: pa.Array, mapping: pd.DataFrame) -> ibis.Table:
    """The ids whose rows are these customers': theirs and the ids resolving to them."""
    theirs = mapping.loc[mapping["customer_id"].isin(customers.to_pandas()), "raw_id"]
    ids = pa.concat_arrays([customers.cast(pa.string()), pa.array(theirs, pa.string())])
    return ibis.memtable(pa.table({"customer_id": ids}))


def _topic_column(k: int, names: dict[str, str]) -> str:
    """A topic's column, named after its words so that reports and rules read it."""
    return f"chat_topic_{k}_{slugify(names[f'chat_topic_{k}'])[:32]}"


def source_groups(columns: Sequence[str]) -> dict[str, str]:
    """Column -> its group, for the columns of every source present: a source's features
    are one group, its coverage column another (:data:`COVERAGE_WEIGHT`).

    Examples
    --------
    >>> source_groups(["frequency", "web_sessions", "has_web", "chat_sentiment"])
    {'web_sessions': 'web', 'has_web': 'web coverage', 'chat_sentiment': 'chats'}
    """
    found = {}
    for column in columns:
        for name, (prefix, coverage) in SOURCE_COLUMNS.items():
            if column.startswith(prefix):
                found[column] = name
            elif column == coverage:
                found[column] = f"{name} coverage"
    return found


def source_weights(groups: dict[str, str]) -> dict[str, float]:
    """The weight of each group of :func:`source_groups` (see ``FeatureScaler``)."""
    return {
        g: COVERAGE_WEIGHT if g.endswith(" coverage") else SOURCE_WEIGHT
        for g in set(groups.values())
    }
