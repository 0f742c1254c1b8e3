"""Signed webhook deliveries with retries: at least once, logged, in the background.

Signature (same scheme as Stripe's): the header ``X-Segmint-Signature: t=<unix>,v1=<hex>``
where ``hex = HMAC-SHA256(secret, f"{t}." + body)``. A receiver recomputes it with
:func:`verify`, which also rejects timestamps older than a tolerance (replays).

:class:`WebhookDispatcher` is an asyncio worker pool around one ``httpx.AsyncClient``. Each
delivery is written to a :class:`DeliveryLog` as ``pending`` *before* its first attempt, every
attempt is recorded, and the final state is ``delivered`` (a 2xx answer) or ``failed`` (after
``max_attempts`` tries, or at once on a 4xx other than 408/429, which retrying cannot fix).
Between tries it waits ``min(max_delay, base_delay * 2 ** (attempt - 1))`` seconds (optionally
jittered); waits are timers, so they do not hold a worker. On start it resumes the log's
pending deliveries, so a delivery accepted before a crash is still sent: at least once (the
receiver deduplicates by the ``X-Segmint-Delivery`` id).

The log is a small interface (:class:`DeliveryLog`): :class:`InMemoryDeliveryLog` here for tests
and single processes; the service implements it on its workspace.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import httpx

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "Delivery",
    "DeliveryLog",
    "InMemoryDeliveryLog",
    "WebhookDispatcher",
    "sign",
    "verify",
]

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Segmint-Signature"
EVENT_HEADER = "X-Segmint-Event"
DELIVERY_HEADER = "X-Segmint-Delivery"
_RETRYABLE_4XX = frozenset({408, 425, 429})


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def sign(secret: str | bytes, body: bytes, timestamp: int | float | None = None) -> str:
    """Signature header value for a body.

    Parameters
    ----------
    secret : str or bytes
        The webhook's shared secret.
    body : bytes
        The exact request body.
    timestamp : int, optional
        Unix seconds (default: now).

    Returns
    -------
    str
        ``"t=<unix>,v1=<hex HMAC-SHA256 of '<unix>.' + body>"``.
    """
    t = int(time.time() if timestamp is None else timestamp)
    mac = hmac.new(_key(secret), f"{t}.".encode("ascii") + bytes(body), hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


def verify(
    secret: str | bytes,
    body: bytes,
    header: str,
    *,
    tolerance: float | None = 300.0,
    now: float | None = None,
) -> bool:
    """Check a signature header (constant-time comparison).

    Parameters
    ----------
    secret : str or bytes
    body : bytes
        The body as received.
    header : str
        The ``X-Segmint-Signature`` value (several ``v1=`` entries are accepted, e.g. during
        a secret rotation).
    tolerance : float or None, default=300
        Largest accepted age (and clock skew) of ``t`` in seconds; None disables the check.
    now : float, optional
        Current Unix time (default: the clock).

    Returns
    -------
    bool
    """
    try:
        items = [part.split("=", 1) for part in header.split(",")]
        t_values = [v for k, v in items if k.strip() == "t"]
        signatures = [v.strip() for k, v in items if k.strip() == "v1"]
        t = int(t_values[0])
    except (ValueError, IndexError, AttributeError):
        return False
    if tolerance is not None:
        current = time.time() if now is None else now
        if abs(current - t) > tolerance:
            return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, s) for s in signatures)


@dataclass
class Delivery:
    """One payload for one URL, and where its delivery stands.

    Attributes
    ----------
    delivery_id : str
        Unique id, also sent as ``X-Segmint-Delivery`` (receivers deduplicate on it).
    url : str
    event_type : str
        Sent as ``X-Segmint-Event`` (e.g. ``"segment.entered"``, ``"alert"``).
    body : bytes
        The exact JSON body sent on every attempt.
    secret : str
        Signing secret (not shown in ``repr``).
    webhook_id : str or None
        The registered webhook, for logs that store secrets elsewhere.
    status : str
        ``"pending"``, ``"delivered"`` or ``"failed"``.
    attempts : int
    created_at : float
        Unix time.
    last_status_code : int or None
    last_error : str or None
    next_attempt_at : float or None
        Unix time of the next try while pending.
    """

    delivery_id: str
    url: str
    event_type: str
    body: bytes
    secret: str = field(repr=False, default="")
    webhook_id: str | None = None
    status: str = "pending"
    attempts: int = 0
    created_at: float = field(default_factory=time.time)
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: float | None = None


@runtime_checkable
class DeliveryLog(Protocol):
    """Where deliveries are persisted (the service implements it on DuckDB).

    Calls are synchronous and short; the dispatcher calls them from its event loop.
    """

    def record_pending(self, delivery: Delivery) -> None:
        """Persist a new delivery (status ``pending``) before its first attempt."""

    def record_attempt(self, delivery: Delivery) -> None:
        """Update ``attempts``, ``last_status_code``, ``last_error``, ``next_attempt_at``."""

    def record_final(self, delivery: Delivery) -> None:
        """Persist the final ``status`` (``delivered`` or ``failed``) with the attempt fields."""

    def pending(self) -> list[Delivery]:
        """Deliveries still ``pending`` (resumed when a dispatcher starts)."""


class InMemoryDeliveryLog:
    """A :class:`DeliveryLog` in a dict (tests, single process; lost on exit).

    Attributes
    ----------
    deliveries : dict of str to Delivery
        Latest state by delivery id (copies).
    history : list of tuple
        ``(event, delivery_id, status, attempts, last_status_code)`` in call order.
    """

    def __init__(self) -> None:
        self.deliveries: dict[str, Delivery] = {}
        self.history: list[tuple[str, str, str, int, int | None]] = []

    def _put(self, event: str, d: Delivery) -> None:
        self.deliveries[d.delivery_id] = replace(d)
        self.history.append((event, d.delivery_id, d.status, d.attempts, d.last_status_code))

    def record_pending(self, delivery: Delivery) -> None:
        self._put("pending", delivery)

    def record_attempt(self, delivery: Delivery) -> None:
        self._put("attempt", delivery)

    def record_final(self, delivery: Delivery) -> None:
        self._put("final", delivery)

    def pending(self) -> list[Delivery]:
        return [replace(d) for d in self.deliveries.values() if d.status == "pending"]


def encode_body(delivery_id: str, event_type: str, payload: Any) -> bytes:
    """The JSON envelope sent: ``{"id", "type", "created_at", "data"}`` (UTF-8, compact)."""
    envelope = {
        "id": delivery_id,
        "type": event_type,
        "created_at": datetime.now(UTC).isoformat(),
        "data": payload,
    }
    return json.dumps(envelope, separators=(",", ":"), default=str).encode("utf-8")


class WebhookDispatcher:
    """Background delivery of signed JSON to webhooks, with retries and a delivery log.

    Parameters
    ----------
    log : DeliveryLog, optional
        Default: a new :class:`InMemoryDeliveryLog`.
    max_attempts : int, default=6
        Tries per delivery, the first included.
    base_delay : float, default=1.0
        Wait before the second try, in seconds; doubled for each further try.
    max_delay : float, default=300.0
        Longest wait between tries.
    jitter : float, default=0.0
        Relative random spread of each wait (0.1: +-10%), to keep many receivers' retries
        apart.
    timeout : float, default=10.0
        Seconds per request.
    concurrency : int, default=4
        Requests in flight at once.
    client : httpx.AsyncClient, optional
        Used as given (and not closed by :meth:`stop`); default: one made by :meth:`start`.

    Examples
    --------
    >>> async def main():                                    # doctest: +SKIP
    ...     dispatcher = WebhookDispatcher(InMemoryDeliveryLog())
    ...     await dispatcher.start()
    ...     dispatcher.submit("https://example.org/hook", "s3cret", "alert", {"x": 1})
    ...     await dispatcher.join()
    ...     await dispatcher.stop()
    """

    def __init__(
        self,
        log: DeliveryLog | None = None,
        *,
        max_attempts: int = 6,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        jitter: float = 0.0,
        timeout: float = 10.0,
        concurrency: int = 4,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if base_delay < 0 or max_delay < 0:
            raise ValueError("delays must be >= 0")
        self.log: DeliveryLog = log if log is not None else InMemoryDeliveryLog()
        self.max_attempts = int(max_attempts)
        self.base_delay = float(base_delay)
        self.max_delay = float(max_delay)
        self.jitter = float(jitter)
        self.timeout = float(timeout)
        self.concurrency = int(concurrency)
        self._client = client
        self._own_client = client is None
        self._queue: asyncio.Queue[Delivery] | None = None
        self._workers: list[asyncio.Task] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._outstanding = 0
        self._idle: asyncio.Event | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        return bool(self._workers)

    async def start(self, *, resume: bool = True) -> None:
        """Start the workers (in the running loop) and resume the log's pending deliveries."""
        if self.running:
            return
        self._queue = asyncio.Queue()
        self._idle = asyncio.Event()
        self._idle.set()
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        self._workers = [
            asyncio.create_task(self._worker(), name=f"webhook-{i}")
            for i in range(self.concurrency)
        ]
        if resume:
            for delivery in self.log.pending():
                self._enqueue(delivery)

    async def stop(self, *, drain_timeout: float | None = 5.0) -> None:
        """Stop the workers, first waiting up to ``drain_timeout`` s for outstanding work.

        Deliveries not finished stay ``pending`` in the log and resume at the next start.
        """
        if not self.running:
            return
        if drain_timeout:
            try:
                await asyncio.wait_for(self.join(), drain_timeout)
            except TimeoutError:
                pass
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None
        self._outstanding = 0

    async def join(self) -> None:
        """Wait until every submitted delivery is delivered or failed."""
        if self._idle is not None:
            await self._idle.wait()

    # ------------------------------------------------------------------ submit
    def submit(
        self,
        url: str,
        secret: str,
        event_type: str,
        payload: Any,
        *,
        webhook_id: str | None = None,
    ) -> Delivery:
        """Persist a delivery as pending and queue it (call from the dispatcher's loop).

        Parameters
        ----------
        url : str
        secret : str
        event_type : str
        payload : JSON-serialisable
            Sent as ``data`` in the envelope (see :func:`encode_body`).
        webhook_id : str, optional

        Returns
        -------
        Delivery
            As recorded (status ``pending``).
        """
        if not self.running:
            raise RuntimeError("the dispatcher is not started; await start() first")
        delivery_id = uuid.uuid4().hex
        delivery = Delivery(
            delivery_id=delivery_id,
            url=url,
            event_type=event_type,
            body=encode_body(delivery_id, event_type, payload),
            secret=secret,
            webhook_id=webhook_id,
        )
        self.log.record_pending(delivery)  # persisted before any attempt: at least once
        self._enqueue(delivery)
        return delivery

    async def send(self, url: str, secret: str, event_type: str, payload: Any, **kw) -> Delivery:
        """Async alias of :meth:`submit`."""
        return self.submit(url, secret, event_type, payload, **kw)

    def _enqueue(self, delivery: Delivery) -> None:
        assert self._queue is not None and self._idle is not None
        self._outstanding += 1
        self._idle.clear()
        self._queue.put_nowait(delivery)

    def _done(self) -> None:
        self._outstanding -= 1
        if self._outstanding <= 0 and self._idle is not None:
            self._outstanding = 0
            self._idle.set()

    # ------------------------------------------------------------------ work
    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        d = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        if self.jitter:
            d *= 1.0 + self.jitter * (2.0 * random.random() - 1.0)
        return max(d, 0.0)

    async def _worker(self) -> None:
        assert self._queue is not None
        while True:
            delivery = await self._queue.get()
            try:
                await self._attempt(delivery)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in a log implementation must not kill the worker
                logger.exception("webhook delivery %s: unexpected error", delivery.delivery_id)
                self._done()
            finally:
                self._queue.task_done()

    async def _attempt(self, d: Delivery) -> None:
        assert self._client is not None
        d.attempts += 1
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "segmint-webhooks",
            SIGNATURE_HEADER: sign(d.secret, d.body),
            EVENT_HEADER: d.event_type,
            DELIVERY_HEADER: d.delivery_id,
        }
        code: int | None = None
        error: str | None = None
        try:
            response = await self._client.post(
                d.url, content=d.body, headers=headers, timeout=self.timeout
            )
            code = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        d.last_status_code, d.last_error = code, error
        if code is not None and 200 <= code < 300:
            d.status, d.next_attempt_at = "delivered", None
            self.log.record_final(d)
            self._done()
            return
        retryable = code is None or code >= 500 or code in _RETRYABLE_4XX
        if retryable and d.attempts < self.max_attempts:
            wait = self.delay(d.attempts)
            d.next_attempt_at = time.time() + wait
            self.log.record_attempt(d)
            loop = asyncio.get_running_loop()
            handle: asyncio.TimerHandle

            def requeue() -> None:
                self._timers.discard(handle)
                assert self._queue is not None
                self._queue.put_nowait(d)

            handle = loop.call_later(wait, requeue)
            self._timers.add(handle)
            return
        d.status, d.next_attempt_at = "failed", None
        self.log.record_final(d)
        logger.warning(
            "webhook delivery %s (%s) to %s failed after %d attempt(s): %s",
            d.delivery_id,
            d.event_type,
            d.url,
            d.attempts,
            error or f"HTTP {code}",
        )
        self._done()
