"""Request and response schemas of the HTTP API (pydantic, ``extra="forbid"`` on input).

Input models are validated at the boundary and turned at once into plain dicts
(:func:`normalise_events`): the hot path keeps no pydantic objects alive.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    HttpUrl,
    Tag,
    model_validator,
)

#: the most events one request may carry
MAX_BATCH = 10_000
#: events further in the future than this (clock skew allowance) are refused
MAX_FUTURE = timedelta(minutes=5)
#: events before this are refused (almost always a unit or parsing mistake upstream)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)

EVENT_TYPES = ("purchase", "page_view", "app_view", "device", "chat_message", "consent")


def _clean_text(value: str) -> str:
    # lone surrogates cannot be stored as UTF-8, and NUL ends strings in many consumers
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains an unpaired UTF-16 surrogate (not valid Unicode text)") from None
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


def _clean_id(value: str) -> str:
    _clean_text(value)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("identifiers may not contain control characters")
    if value.strip() != value or not value:
        raise ValueError("identifiers may not be empty or start or end with whitespace")
    return value


def _check_ts(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    now = datetime.now(UTC)
    if value > now + MAX_FUTURE:
        raise ValueError(
            f"timestamp {value.isoformat()} is in the future (now is {now:%Y-%m-%dT%H:%M:%SZ}; "
            "at most 5 minutes of clock skew are accepted)"
        )
    if value < EARLIEST:
        raise ValueError(f"timestamp {value.isoformat()} is before 2000-01-01")
    return value


Id = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_clean_id)]
ShortText = Annotated[str, Field(max_length=512), AfterValidator(_clean_text)]
LongText = Annotated[str, Field(min_length=1, max_length=20_000), AfterValidator(_clean_text)]
Timestamp = Annotated[datetime, AfterValidator(_check_ts)]
Number = Annotated[float, Field(allow_inf_nan=False, ge=-1e12, le=1e12)]
Scalar = Annotated[str, Field(max_length=512), AfterValidator(_clean_text)] | Number | bool | None
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
    is_return: bool = False

    @model_validator(mode="after")
    def _value(self) -> PurchaseProperties:
        if self.amount is None and self.unit_price is None:
            raise ValueError("a purchase needs `amount` or `unit_price`")
        return self


class PageViewProperties(_Strict):
    url: ShortText | None = None
    title: ShortText | None = None
    referrer: ShortText | None = None
    category: ShortText | None = None
    product_id: Id | None = None
    duration_s: Annotated[float, Field(allow_inf_nan=False, ge=0, le=86400)] | None = None
    attributes: Attributes | None = None


class AppViewProperties(_Strict):
    screen: ShortText | None = None
    category: ShortText | None = None
    product_id: Id | None = None
    duration_s: Annotated[float, Field(allow_inf_nan=False, ge=0, le=86400)] | None = None
    attributes: Attributes | None = None


class DeviceProperties(_Strict):
    device_id: Id | None = None
    platform: ShortText | None = None
    model: ShortText | None = None
    app_version: ShortText | None = None
    metrics: Annotated[dict[Annotated[str, Field(max_length=64)], Number], Field(max_length=64)] | None = None
    attributes: Attributes | None = None


class ChatMessageProperties(_Strict):
    text: LongText
    conversation_id: Id | None = None
    channel: ShortText | None = None
    role: Literal["customer", "agent", "bot"] = "customer"


class ConsentProperties(_Strict):
    purpose: Id = Field(description="What the consent is for, e.g. `email_marketing`.")
    status: Literal["granted", "withdrawn"]


class _EventBase(_Strict):
    event_id: Id = Field(description="Unique id chosen by the sender; resending it is harmless.")
    customer_id: Id
    ts: Timestamp = Field(description="When it happened (ISO 8601; UTC when no offset is given).")
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
    PurchaseEvent | PageViewEvent | AppViewEvent | DeviceEvent | ChatMessageEvent | ConsentEvent,
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


def normalise_events(body: Any) -> list[dict]:
    """Validated events as plain dicts in the write-ahead-log shape (UTC ISO timestamps)."""
    events = body.events if isinstance(body, EventBatch) else [body]
    out = []
    for e in events:
        props = e.properties.model_dump(exclude_none=True)
        if e.type == "purchase":
            q = props.get("quantity", 1.0)
            amount = props.get("amount")
            if amount is None:
                amount = q * props["unit_price"]
            is_return = bool(props.get("is_return")) or q < 0 or amount < 0
            props["amount"] = -abs(amount) if is_return else amount
            props["is_return"] = is_return
            props["quantity"] = q
            if "unit_price" not in props:
                props["unit_price"] = abs(amount / q) if q else None
            props.setdefault("order_id", e.event_id)
        out.append(
            {
                "event_id": e.event_id,
                "customer_id": e.customer_id,
                "ts": e.ts.strftime("%Y-%m-%dT%H:%M:%S.%f"),
                "type": e.type,
                "source": e.source,
                "properties": props,
            }
        )
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


class IngestResult(BaseModel):
    accepted: int = Field(description="Events stored by this request.")
    duplicates: int = Field(description="Events already received earlier (not counted twice).")
    duplicate_ids: list[str]
    customers: list[CustomerSegment] = Field(
        description="Segment of every customer touched, after applying the events."
    )


class Health(BaseModel):
    status: Literal["ok", "starting"]
    run_id: int | None
    customers: int
    events_pending: int


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


class Members(BaseModel):
    segment_id: int
    customer_ids: list[str]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")


class CustomerOut(BaseModel):
    customer_id: str
    as_of: UtcDatetime | None
    profile: dict[str, Any]
    segment_id: int | None
    segment: str | None
    rule: str | None
    confidence: float | None
    predictions: dict[str, Any] | None = None


class RunCreate(_Strict):
    n_segments: Annotated[int, Field(ge=2, le=30)] | None = None
    random_state: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0


class RunStatus(BaseModel):
    state: Literal["idle", "running", "done", "failed"]
    run_id: int | None = None
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    error: str | None = None


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


NOTIFICATION_TYPES = ("segment.entered", "segment.left", "alert")


class WebhookCreate(_Strict):
    url: HttpUrl
    event_types: list[Literal["segment.entered", "segment.left", "alert"]] = Field(
        default_factory=lambda: list(NOTIFICATION_TYPES), min_length=1, max_length=3
    )
    description: ShortText | None = None


class WebhookOut(BaseModel):
    webhook_id: str
    url: str
    event_types: list[str]
    description: str | None
    created_at: UtcDatetime


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
