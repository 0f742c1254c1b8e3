"""Webhook delivery: signed, at least once, from the durable outbox, one schedule per webhook.

Signature (same scheme as Stripe's): the header ``X-Segmint-Signature: t=<unix>,v1=<hex>``
where ``hex = HMAC-SHA256(secret, f"{t}." + body)``. A receiver recomputes it with
:func:`verify`, which also rejects timestamps older than a tolerance (replays). The body is the
notification's JSON (``{"id", "type", "created_at", "data"}``); ``X-Segmint-Event`` carries its
type and ``X-Segmint-Delivery`` an id that stays the same on every retry (receivers deduplicate
on it: delivery is at least once).

:class:`WebhookSender` is the one sender. It holds nothing but what is in flight: every
notification waits in the workspace's outbox (:mod:`segmint.store.outbox`), written in the
transaction that stored its cause. The sender repeatedly takes the webhooks whose oldest row is
due, and for each sends its oldest rows in order, up to ``batch_size``, until one must wait. It
then stores the outcomes in one transaction: 2xx is ``delivered``; other 4xx, a refused
destination, too many attempts or too old is ``failed`` (moved to the delivery log); connection
errors, timeouts, 429 and 5xx are retried at a stored due time (back-off doubling per attempt,
or the receiver's ``Retry-After``). A webhook has one batch in flight and waits behind its oldest
row, so a dead or hanging receiver delays only its own notifications (it costs one of
``concurrency`` slots for at most ``timeout`` seconds), and nothing sleeps in a shared worker.

Before every attempt the destination is checked again after DNS resolution
(:mod:`segmint.realtime.urlguard`) and the request goes to the checked address, with the
webhook's host name kept in ``Host`` and in TLS SNI (and certificate checks). Redirects are not
followed and proxy settings from the environment are ignored, so no other address is reached.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from segmint.realtime.urlguard import (
    REFUSED,
    DestinationPolicy,
    DestinationRefused,
    DestinationUnresolved,
    Resolver,
    resolve_destination,
)
from segmint.store import outbox
from segmint.store.sealing import SecretBox
from segmint.store.workspace import utcnow

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "SIGNATURE_HEADER",
    "RetryPolicy",
    "WebhookSender",
    "retryable",
    "sign",
    "verify",
]

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Segmint-Signature"
EVENT_HEADER = "X-Segmint-Event"
DELIVERY_HEADER = "X-Segmint-Delivery"

#: ``await db(fn, *args, **kwargs)`` runs ``fn(connection, *args, **kwargs)`` off the event loop
#: (the service's ``Engine.db``)
DbRunner = Callable[..., Awaitable[Any]]


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


def retryable(status_code: int | None) -> bool:
    """Whether an outcome is worth another try: no answer (connection error, timeout), 429 or
    5xx. Any other answer will not change by asking again."""
    return status_code is None or status_code == 429 or status_code >= 500


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again and when to give up.

    Attributes
    ----------
    max_attempts : int
        Tries per delivery, the first included.
    base_delay : float
        Seconds before the second try; doubled for each further one, up to ``max_delay``.
    max_delay : float
    max_age : float
        Seconds after which a notification is given up whatever its attempts.
    jitter : float
        Relative random spread of each delay (0.1: +-10%), so that many retries spread out.
    """

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 300.0
    max_age: float = 24 * 3600.0
    jitter: float = 0.1

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempts`` (1-based); a receiver's
        ``Retry-After`` is honoured up to ``max_delay``."""
        d = min(self.max_delay, self.base_delay * 2.0 ** (attempts - 1))
        d *= 1.0 + self.jitter * (2.0 * random.random() - 1.0)
        if retry_after is not None:
            d = max(d, min(retry_after, self.max_delay))
        return max(d, 0.0)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None  # an HTTP-date is rare from webhook receivers; the back-off applies


@dataclass
class _Sent:
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    final: bool = False  # refused: trying again cannot help


class WebhookSender:
    """Deliver the outbox's notifications (see the module docstring).

    Parameters
    ----------
    db : callable
        ``await db(fn, *args, **kwargs)`` -> ``fn(connection, *args, **kwargs)``.
    box : SecretBox
        Opens the stored signing secrets.
    policy : DestinationPolicy, optional
        Which addresses may be called (default: public ones only).
    retry : RetryPolicy, optional
    timeout : float, default=5.0
        Seconds per request (connect, read, write each).
    concurrency : int, default=8
        Requests in flight at once, over all webhooks.
    poll_s : float, default=1.0
        Longest sleep between looks at the outbox (:meth:`wake` cuts it short).
    batch_size : int, default=32
        A webhook's rows sent one after another before their outcomes are stored together
        (at most ``concurrency * batch_size`` bodies are held in memory).
    resolver : callable, optional
        ``await resolver(host, port)`` -> addresses (default: the system's).

    Examples
    --------
    >>> sender = WebhookSender(engine.db, box)      # doctest: +SKIP
    >>> await sender.start()                        # doctest: +SKIP
    >>> sender.wake()  # after committing outbox rows   # doctest: +SKIP
    """

    def __init__(
        self,
        db: DbRunner,
        box: SecretBox,
        *,
        policy: DestinationPolicy | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 5.0,
        concurrency: int = 8,
        poll_s: float = 1.0,
        batch_size: int = 32,
        resolver: Resolver | None = None,
    ) -> None:
        self.db = db
        self.box = box
        self.policy = policy or DestinationPolicy()
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.concurrency = concurrency
        self.poll_s = poll_s
        self.batch_size = batch_size
        self.resolver = resolver
        self._client: httpx.AsyncClient | None = None
        self._wake: asyncio.Event | None = None
        self._loop_task: asyncio.Task | None = None
        self._inflight: dict[str, asyncio.Task] = {}  # webhook id -> its one delivery

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._client = httpx.AsyncClient(
            timeout=self.timeout,
            trust_env=False,  # no proxy from the environment: connect to the checked address
            follow_redirects=False,
            limits=httpx.Limits(max_connections=self.concurrency),
        )
        self._loop_task = asyncio.create_task(self._run(), name="segmint-webhooks")

    async def stop(self) -> None:
        """Stop at once: a delivery cut short stays in the outbox and is sent again later."""
        tasks = [t for t in (self._loop_task, *self._inflight.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None
        self._inflight.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def wake(self) -> None:
        """Look at the outbox now (new rows were committed, or a delivery finished)."""
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                wait = await self._start_due()
            except Exception:  # noqa: BLE001 - the workspace may be busy; look again later
                logger.exception("reading the webhook outbox failed")
                wait = self.poll_s
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except TimeoutError:
                pass

    async def _start_due(self) -> float:
        """Start every due webhook the free slots allow; return the seconds until the next."""
        free = self.concurrency - len(self._inflight)
        if free <= 0:
            return self.poll_s
        heads = await self.db(outbox.heads, busy=list(self._inflight))
        now = utcnow()
        wait = self.poll_s
        for head in heads:
            if head.next_attempt_at > now:
                wait = min(wait, (head.next_attempt_at - now).total_seconds())
                break  # ordered by due time: the rest are later still
            if free == 0:
                break
            free -= 1
            task = asyncio.create_task(self._deliver(head.webhook_id), name="segmint-webhook")
            self._inflight[head.webhook_id] = task
            task.add_done_callback(lambda _t, w=head.webhook_id: self._finished(w))
        return max(wait, 0.0)

    def _finished(self, webhook_id: str) -> None:
        self._inflight.pop(webhook_id, None)
        self.wake()

    def forget(self, webhook_id: str) -> None:
        """A webhook was deleted: abandon its delivery in flight (its rows are cancelled)."""
        task = self._inflight.get(webhook_id)
        if task is not None:
            task.cancel()

    async def _deliver(self, webhook_id: str) -> None:
        """Send a webhook's oldest rows in order, up to the first that must wait (one commit
        for the batch: a crash before it only means those are sent again)."""
        try:
            rows = await self.db(outbox.batch, webhook_id, limit=self.batch_size)
            outcomes = []
            for due in rows:
                outcome = await self._attempt(due)
                outcomes.append(outcome)
                if outcome.status == "retry":
                    break  # the rest wait behind it, in order
            if outcomes:
                await self.db(outbox.settle, outcomes)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the rows stay queued and are tried again
            logger.exception("webhook deliveries to %s: unexpected error", webhook_id)

    async def _attempt(self, due: outbox.Due) -> outbox.Outcome:
        """Try one row (unless it is too old) and say what became of it."""
        age = (utcnow() - due.created_at).total_seconds()
        if age >= self.retry.max_age:  # waited behind a dead receiver's retries too long
            return self._failed(due, due.attempts, None, f"expired after {age:.0f} s")
        sent = await self._post(due)
        attempts = due.attempts + 1
        code, error = sent.status_code, sent.error
        if code is not None and 200 <= code < 300:
            return outbox.Outcome(due.seq, due.delivery_id, "delivered", attempts, code)
        if not sent.final and retryable(code):
            if attempts >= self.retry.max_attempts:
                error = f"{error}; gave up after {attempts} attempts"
            else:
                wait = self.retry.delay(attempts, sent.retry_after)
                return outbox.Outcome(
                    due.seq,
                    due.delivery_id,
                    "retry",
                    attempts,
                    code,
                    error,
                    next_attempt_at=utcnow() + timedelta(seconds=wait),
                )
        return self._failed(due, attempts, code, error)

    def _failed(
        self, due: outbox.Due, attempts: int, code: int | None, error: str | None
    ) -> outbox.Outcome:
        logger.warning(
            "webhook delivery %s (%s) failed after %d attempt(s): %s",
            due.delivery_id,
            due.event_type,
            attempts,
            error,
        )
        return outbox.Outcome(due.seq, due.delivery_id, "failed", attempts, code, error)

    async def _post(self, due: outbox.Due) -> _Sent:
        try:
            dest = await resolve_destination(due.url, self.policy, self.resolver)
        except DestinationUnresolved:
            return _Sent(error="the host name did not resolve")
        except DestinationRefused:
            return _Sent(error=REFUSED, final=True)
        url = httpx.URL(due.url)
        body = due.body.encode("utf-8")
        headers = {
            "Host": url.netloc.decode("ascii"),
            "Content-Type": "application/json",
            "User-Agent": "segmint-webhooks",
            SIGNATURE_HEADER: sign(self.box.open(due.secret, due.webhook_id), body),
            EVENT_HEADER: due.event_type,
            DELIVERY_HEADER: due.delivery_id,
        }
        assert self._client is not None
        for address in dest.addresses:  # the next only if this one refuses the connection
            try:
                response = await self._client.post(
                    url.copy_with(host=address, port=dest.port),  # as checked
                    content=body,
                    headers=headers,
                    extensions={"sni_hostname": dest.host} if url.scheme == "https" else {},
                )
                break
            except httpx.ConnectError as exc:
                failed = _Sent(error=f"connection error ({type(exc).__name__})")
            except httpx.TimeoutException:
                return _Sent(error="timeout")
            except httpx.HTTPError as exc:
                return _Sent(error=f"connection error ({type(exc).__name__})")
        else:
            return failed
        code = response.status_code
        return _Sent(
            status_code=code,
            error=None if response.is_success else f"HTTP {code}",
            retry_after=_retry_after(response),
        )
