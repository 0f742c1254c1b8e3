"""Request and response schemas of the HTTP API (pydantic, ``extra="forbid"`` on input).

Input models are validated at the boundary and turned at once into plain dicts
(:func:`normalise_events`): the hot path keeps no pydantic objects alive.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    HttpUrl,
    StrictBool,
    Tag,
    TypeAdapter,
)

from segmint.features.social import SOCIAL_TYPES

#: the most events one request may carry
MAX_BATCH = 10_000
#: events further in the future than this (clock skew allowance) are refused
MAX_FUTURE = timedelta(minutes=5)
#: events before this are refused (almost always a unit or parsing mistake upstream)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)

#: clickstream steps beyond a page view (the web features count them per session)
CLICK_TYPES = ("product_view", "add_to_cart", "search", "checkout")
EVENT_TYPES = (
    "purchase",
    "page_view",
    "app_view",
    *CLICK_TYPES,
    "device",
    "chat_message",
    *SOCIAL_TYPES,
    "consent",
)


# patterns run in pydantic-core (Rust): no control characters in ids, no leading/trailing
# space; no NUL in text. Unpaired surrogates are refused by the JSON parser itself.
ID_PATTERN = r"^[^\x00-\x1f\x7f\s](?:[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s])?$"
TEXT_PATTERN = r"^[^\x00]*$"
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=ID_PATTERN)]
ShortText = Annotated[str, Field(max_length=512, pattern=TEXT_PATTERN)]
LongText = Annotated[str, Field(min_length=1, max_length=20_000, pattern=TEXT_PATTERN)]
#: checked (future, far past) in :func:`normalise_events`, once per batch, not per field call
Timestamp = datetime
#: the largest magnitude of any number, given or derived (a unit price from amount / quantity)
MAX_NUMBER = 1e12
#: strict: a number is a JSON number -- ``"5"`` and ``true`` are refused, not converted
Number = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-MAX_NUMBER, le=MAX_NUMBER)]
Duration = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=86400)]
Scalar = Annotated[str, Field(max_length=512, pattern=TEXT_PATTERN)] | Number | bool | None
Attributes = Annotated[dict[Annotated[str, Field(max_length=64)], Scalar], Field(max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=20_000)


class PurchaseProperties(_Strict):
    """One purchase (or return) line."""

    order_id: Id | None = Field(None, description="Order id; the event id when absent.")
    product_id: Id | None = None
    description: ShortText | None = None
    category: ShortText | None = None
    quantity: Number = Field(1.0, description="Units; negative for a return.")
    unit_price: Number | None = Field(None, description="Price per unit.")
    amount: Number | None = Field(
        None, description="Line value; quantity x unit_price when absent."
    )
    channel: ShortText | None = None
    is_return: StrictBool = False


class _Visit(_Strict):
    category: ShortText | None = None
    product_id: Id | None = None
    duration_s: Duration | None = None
    device: ShortText | None = Field(None, description="`mobile`, `desktop`, `tablet`, ...")
    channel: ShortText | None = Field(
        None, description="Marketing channel that brought the visit: `paid`, `email`, ..."
    )
    attributes: Attributes | None = None


class PageViewProperties(_Visit):
    url: ShortText | None = None
    title: ShortText | None = None
    referrer: ShortText | None = None
    query: ShortText | None = Field(None, description="What was searched (a search).")


class AppViewProperties(_Visit):
    screen: ShortText | None = None


class DeviceProperties(_Strict):
    device_id: Id | None = None
    platform: ShortText | None = None
    model: ShortText | None = None
    app_version: ShortText | None = None
    metrics: (
        Annotated[dict[Annotated[str, Field(max_length=64)], Number], Field(max_length=64)] | None
    ) = None
    feature: ShortText | None = Field(None, description="What the customer used.")
    minutes: (
        Annotated[
            float,
            Field(strict=True, allow_inf_nan=False, ge=0, le=1440, description="Minutes used."),
        ]
        | None
    ) = None
    fault: StrictBool | None = Field(None, description="Whether the device reported a fault.")
    attributes: Attributes | None = None


class SocialProperties(_Strict):
    text: LongText | None = Field(None, description="What a mention or review says.")
    rating: Annotated[float, Field(strict=True, ge=1, le=5)] | None = Field(
        None, description="A review's stars, 1-5."
    )
    url: ShortText | None = None
    network: ShortText | None = Field(None, description="`instagram`, `x`, ...")


class ChatMessageProperties(_Strict):
    text: LongText
    conversation_id: Id | None = None
    channel: ShortText | None = None
    role: Literal["customer", "agent", "bot"] = "customer"


class ConsentProperties(_Strict):
    purpose: Id = Field(description="One of the workspace's consent purposes, e.g. `email`.")
    status: Literal["granted", "withdrawn"]


class _EventBase(_Strict):
    event_id: Id = Field(description="Unique id chosen by the sender; resending it is harmless.")
    customer_id: Id
    ts: Timestamp = Field(
        description="When it happened (ISO 8601; UTC when no offset is given); from "
        "2000-01-01 to at most 5 minutes after the server's clock."
    )
    source: ShortText | None = Field(None, description="Sending system, e.g. `web`, `pos`.")


class PurchaseEvent(_EventBase):
    type: Literal["purchase"]
    properties: PurchaseProperties


class PageViewEvent(_EventBase):
    type: Literal["page_view"]
    properties: PageViewProperties = Field(default_factory=PageViewProperties)


class AppViewEvent(_EventBase):
    type: Literal["app_view"]
    properties: AppViewProperties = Field(default_factory=AppViewProperties)


class ClickEvent(_EventBase):
    type: Literal["product_view", "add_to_cart", "search", "checkout"]
    properties: PageViewProperties = Field(default_factory=PageViewProperties)


class SocialEvent(_EventBase):
    type: Literal["like", "share", "mention", "review"]
    properties: SocialProperties = Field(default_factory=SocialProperties)


class DeviceEvent(_EventBase):
    type: Literal["device"]
    properties: DeviceProperties = Field(default_factory=DeviceProperties)


class ChatMessageEvent(_EventBase):
    type: Literal["chat_message"]
    properties: ChatMessageProperties


class ConsentEvent(_EventBase):
    type: Literal["consent"]
    properties: ConsentProperties


Event = Annotated[
    PurchaseEvent
    | PageViewEvent
    | AppViewEvent
    | ClickEvent
    | DeviceEvent
    | ChatMessageEvent
    | SocialEvent
    | ConsentEvent,
    Field(discriminator="type"),
]


class EventBatch(_Strict):
    events: list[Event] = Field(min_length=1, max_length=MAX_BATCH)


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return "batch" if "events" in value else "event"
    return "batch" if isinstance(value, EventBatch) else "event"


EventsIn = Annotated[
    Annotated[Event, Tag("event")] | Annotated[EventBatch, Tag("batch")],
    Discriminator(_shape),
]


_EVENTS = TypeAdapter(list[Event])


def _in_bounds(x: float) -> bool:
    return math.isfinite(x) and abs(x) <= MAX_NUMBER


def _out_of_bounds(what: str, x: float) -> str:
    return f"{what} is {x:g}, outside the allowed range of +/-{MAX_NUMBER:g}"


def normalise_events(body: Any) -> list[dict]:
    """Validated events as plain dicts in the write-ahead-log shape (naive UTC ISO times).

    Purchases get ``amount`` (quantity x unit_price when absent; negative for returns, as in
    batch ingest), ``quantity``, ``is_return``, ``unit_price`` and ``order_id`` (the event id
    when absent) filled in.
    """
    batch = isinstance(body, EventBatch)
    events = body.events if batch else [body]
    out = _EVENTS.dump_python(events, mode="json", exclude_none=True)
    now = datetime.now(UTC)
    latest = (now + MAX_FUTURE).replace(tzinfo=None).isoformat()
    earliest = EARLIEST.replace(tzinfo=None).isoformat()
    errors: list[dict] = []

    def error(i: int, where: tuple, msg: str) -> None:
        loc = ("body", "events", i, *where) if batch else ("body", *where)
        errors.append({"loc": loc, "msg": msg, "type": "value_error"})

    for i, d in enumerate(out):
        ts = d["ts"]
        if ts.endswith("Z"):
            ts = ts[:-1]
        elif len(ts) > 19 and ts[-6] in "+-" and ts[-3] == ":":
            ts = datetime.fromisoformat(ts).astimezone(UTC).replace(tzinfo=None).isoformat()
        d["ts"] = ts
        # ISO strings of one shape compare like the times they name
        if ts > latest:
            error(
                i,
                ("ts",),
                f"timestamp {ts}Z is in the future (now is "
                f"{now:%Y-%m-%dT%H:%M:%SZ}; at most 5 minutes of clock skew are accepted)",
            )
        elif ts < earliest:
            error(i, ("ts",), f"timestamp {ts}Z is before 2000-01-01")
        d.setdefault("source", "social" if d["type"] in SOCIAL_TYPES else None)
        if d["type"] == "purchase":
            props = d["properties"]
            q = props.get("quantity", 1.0)
            amount = props.get("amount")
            if amount is None:
                if "unit_price" not in props:
                    error(i, ("properties",), "a purchase needs `amount` or `unit_price`")
                    continue
                amount = q * props["unit_price"]
                if not _in_bounds(amount):
                    error(
                        i, ("properties", "amount"), _out_of_bounds("quantity x unit_price", amount)
                    )
                    continue
            is_return = bool(props.get("is_return")) or q < 0 or amount < 0
            props["amount"] = -abs(amount) if is_return else amount
            props["is_return"] = is_return
            props["quantity"] = q
            if "unit_price" not in props and q:
                unit_price = abs(amount / q)
                if not _in_bounds(unit_price):
                    error(
                        i,
                        ("properties", "unit_price"),
                        _out_of_bounds("amount / quantity", unit_price),
                    )
                    continue
                props["unit_price"] = unit_price
            props.setdefault("order_id", d["event_id"])
    if errors:
        raise RequestValidationError(errors[:100])
    return out


# --------------------------------------------------------------------------- responses


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: stored times are naive UTC; on the way out they carry their offset (RFC 3339)
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = Field(
        None, description="Field-level problems (location, message) for invalid input."
    )


class CustomerSegment(BaseModel):
    customer_id: str
    segment_id: int | None
    segment: str | None
    confidence: float | None
    micro_segment_id: str | None = Field(
        None, description="Micro-segment: a taste across the segments (`m<i>`)."
    )
    micro_segment: str | None = Field(
        None, description="Its name: the segment's, then what sets it apart within it."
    )


class IngestResult(BaseModel):
    accepted: int = Field(description="Events stored by this request.")
    duplicates: int = Field(description="Events already received earlier (not counted twice).")
    duplicate_ids: list[str]
    customers: list[CustomerSegment] = Field(
        description="Segment of every customer touched, after applying the events (only "
        "customers permitted for personalisation)."
    )
    withheld: int = Field(
        0, description="Touched customers left out of `customers`: no personalisation consent."
    )


class Health(BaseModel):
    status: Literal["ok", "starting"]
    run_id: int | None
    customers: int
    events_pending: int = Field(description="Events received and not yet stored.")
    sources_pending: int = Field(
        0,
        description="Customers whose web, chat, device or social events are not yet in "
        "their live features (a run found on those sources recomputes them after storing).",
    )
    sources_lag_s: float = Field(
        0.0, description="Seconds the oldest of those events has waited (0: none)."
    )
    sources_refreshed: int = Field(
        0, description="Customers' source features recomputed since the run was loaded."
    )


class SegmentOut(BaseModel):
    segment_id: int
    name: str
    rule: str
    size: int = Field(description="Customers in the segment in the batch run.")
    live_size: int = Field(description="Customers in the segment now.")
    value_share: float
    profile: dict[str, Any] = Field(default_factory=dict)


class SegmentList(BaseModel):
    run_id: int | None
    segments: list[SegmentOut]


class MicroSegmentOut(BaseModel):
    micro_segment_id: str
    segment_id: int = Field(description="The segment most of its customers are in.")
    name: str = Field(description="What sets it apart from all customers.")
    rule: str = Field(description="What separates it from all other customers.")
    size: int = Field(description="Customers in the micro-segment in the batch run.")
    live_size: int = Field(description="Customers in the micro-segment now.")
    value_share: float | None = Field(description="Share of all customers' spend.")
    profile: dict[str, Any] = Field(
        default_factory=dict,
        description="Rule fidelity and precision, shares (`segment_share`: of its customers in "
        "`segment_id`), what distinguishes it from all customers (`top_features`) and its "
        "feature means (`profile`).",
    )


class MicroSegmentList(BaseModel):
    run_id: int | None
    segment_id: int
    micro_segments: list[MicroSegmentOut] = Field(
        description="Largest first; empty for a run stored before micro-segments were described."
    )
    withheld_groups: int = Field(
        0, description="Micro-segments not described: smaller than the minimum audience size."
    )


class ConsentSummary(BaseModel):
    purpose: str = Field(description="The consent purpose the output declared.")
    regime: Literal["opt-out", "opt-in"] = Field(
        description="What a customer without a consent record counts as for it."
    )
    withheld: int = Field(description="Customers left out because consent does not permit it.")
    min_audience: int = Field(description="Groups smaller than this are never described.")


class Members(BaseModel):
    segment_id: int
    customer_ids: list[str]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")
    consent: ConsentSummary


Purpose = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        pattern=r"^[a-z][a-z0-9_-]*$",
        description="A consent purpose of the workspace (defaults: analytics, email, sms, ads, "
        "personalisation).",
    ),
]


class ConsentChange(_Strict):
    customer_id: Id
    purpose: Purpose
    status: Literal["granted", "withdrawn"]
    ts: UtcDatetime | None = Field(None, description="When the customer said so (default: now).")
    source: ShortText | None = Field(None, description="Where it was given, e.g. `signup-form`.")
    evidence: ShortText | None = Field(
        None, description="A reference to the evidence (form id, message id, URL)."
    )


class ConsentIn(_Strict):
    changes: list[ConsentChange] = Field(min_length=1, max_length=MAX_BATCH)


class Checkpoint(BaseModel):
    origin: str
    checkpoint_id: int
    tree_size: int
    root: str
    created_at: str
    key_id: str
    public_key: str
    signature: str


class ConsentRecorded(BaseModel):
    first_seq: int = Field(description="Ledger position of the first change.")
    count: int
    checkpoint: Checkpoint = Field(description="The signed checkpoint that now covers them.")


class Erased(BaseModel):
    ref: str = Field(description="The keyed hash the customer is remembered by (never the id).")
    ids: int = Field(description="Identifiers erased with the customer (emails, cookies, ...).")
    rows: dict[str, int] = Field(description="Rows removed per table.")
    total: int
    purged_at: str = Field(
        description="When the deleted bytes leave the database file (it is rewritten)."
    )


class CustomerOut(BaseModel):
    customer_id: str
    as_of: UtcDatetime | None
    profile: dict[str, Any]
    segment_id: int | None
    segment: str | None
    rule: str | None
    confidence: float | None
    micro_segment_id: str | None = None
    micro_segment: str | None = None
    predictions: dict[str, Any] | None = None


class RunCreate(_Strict):
    n_segments: Annotated[int, Field(strict=True, ge=2, le=30)] | None = None
    random_state: Annotated[int, Field(strict=True, ge=0, le=2**31 - 1)] = 0


class RunStatus(BaseModel):
    """The latest refit (recorded in the workspace, so it survives restarts), and the next
    scheduled one. ``interrupted``: the service stopped before the refit finished."""

    state: Literal["idle", "running", "done", "failed", "interrupted"]
    run_id: int | None = None
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    error: str | None = None
    trigger: Literal["request", "schedule"] | None = Field(
        None, description="What started it: POST /v1/runs or the refit schedule."
    )
    next_scheduled_at: UtcDatetime | None = Field(
        None,
        description="When the schedule next refits, if events arrive meanwhile "
        "(`segmint serve --refit-every`); null without a schedule.",
    )


class RunOut(BaseModel):
    run_id: int
    kind: str
    created_at: str
    as_of: str
    metrics: dict[str, Any]
    params: dict[str, Any]


class RunList(BaseModel):
    runs: list[RunOut]
    refit: RunStatus


class AlertOut(BaseModel):
    alert_id: str
    created_at: UtcDatetime
    run_id: int | None
    segment_id: int | None
    metric: str
    message: str
    evidence: dict[str, Any]


class AlertList(BaseModel):
    alerts: list[AlertOut]


#: what a webhook gets unless it names its event types
NOTIFICATION_TYPES = ("segment.entered", "segment.left", "alert")


class WebhookCreate(_Strict):
    url: HttpUrl
    event_types: list[Literal["segment.entered", "segment.left", "alert", "action.next"]] = Field(
        default_factory=lambda: list(NOTIFICATION_TYPES),
        min_length=1,
        max_length=4,
        description="action.next (opt-in): on segment entry, the customer's next best "
        "action, as GET /v1/customers/{id}/next-best-action gives it (only for customers "
        "who consented to personalisation).",
    )
    description: ShortText | None = None
    purpose: Purpose = Field(
        "personalisation",
        description="What the notifications are used for: customers who have not consented to "
        "it are left out (and counted in `withheld`).",
    )
    raw_ids: bool = Field(
        False,
        description="Send customer ids as they are instead of this webhook's own pseudonyms.",
    )


class WebhookOut(BaseModel):
    webhook_id: str
    url: str
    event_types: list[str]
    description: str | None
    created_at: UtcDatetime
    purpose: str
    raw_ids: bool
    withheld: int = Field(0, description="Notifications consent kept from this webhook.")


class WebhookCreated(WebhookOut):
    secret: str = Field(description="HMAC-SHA256 signing secret; shown only once.")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class DeliveryOut(BaseModel):
    delivery_id: str
    webhook_id: str
    event_type: str
    payload: dict[str, Any]
    status: str
    attempts: int
    response_code: int | None
    error: str | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]


class KeyCreate(_Strict):
    scope: Literal["ingest", "read", "admin"]
    name: ShortText | None = None


class KeyOut(BaseModel):
    key_id: str
    scope: str
    name: str | None
    created_at: str
    revoked_at: str | None


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself; shown only once.")


class KeyList(BaseModel):
    keys: list[KeyOut]


def finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


class ActionOffer(BaseModel):
    kind: Literal["percent_off", "none"]
    discount_pct: float
    max_discount: float = Field(
        description="The most the discount may give away, in the data's currency: the "
        "playbook's cap, lowered to a share of this customer's expected value."
    )


class Action(BaseModel):
    objective: Literal["retain", "win back", "grow", "onboard", "upsell"]
    channel: str | None = Field(
        description="The first of the playbook's channels the customer consented to and can "
        "be reached on; null: none (do not contact)."
    )
    send_at: str = Field(description="The next moment at the playbook's weekday and hour (UTC).")
    offer: ActionOffer
    subject: str
    message: str
    playbook: str = Field(description="The playbook file (and micro-segment) the action is from.")


class RecommendedItem(BaseModel):
    product_id: str
    description: str | None = None
    score: float | None = None


class NextBestAction(BaseModel):
    customer_id: str
    run_id: int
    segment_id: int
    segment: str | None
    confidence: float | None
    micro_segment_id: str | None = None
    micro_segment: str | None = None
    action: Action
    recommendations: list[RecommendedItem]
    reasons: list[str]
