"""Signed-in dashboard sessions: who signed in with which key, their CSRF token, and the
opaque handles that stand for customers in the dashboard's URLs.

Sessions live in the service's memory only: a restart signs everyone out, and nothing about
a session is written to disk. A customer id never appears in a URL: a page that links to a
customer links to a random handle that only the session that saw the link can follow.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from segmint.store.keys import ApiKey

__all__ = ["COOKIE", "Session", "Sessions"]

COOKIE = "segmint_session"
#: a session ends after this long without a request
IDLE_SECONDS = 8 * 3600
#: handles remembered per session (the oldest are forgotten first)
MAX_HANDLES = 50_000


@dataclass
class Session:
    key_id: str
    scope: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    seen: float = field(default_factory=time.monotonic)
    handles: OrderedDict[str, str] = field(default_factory=OrderedDict)
    by_customer: dict[str, str] = field(default_factory=dict)
    #: a member-list search per segment view, kept here so that it never goes in a URL
    searches: dict[str, str] = field(default_factory=dict)

    @property
    def admin(self) -> bool:
        return self.scope == "admin"

    def handle(self, customer_id: str) -> str:
        """The handle that stands for ``customer_id`` in this session's links."""
        found = self.by_customer.get(customer_id)
        if found is not None:
            self.handles.move_to_end(found)
            return found
        h = secrets.token_urlsafe(12)
        self.handles[h] = customer_id
        self.by_customer[customer_id] = h
        while len(self.handles) > MAX_HANDLES:
            _, old = self.handles.popitem(last=False)
            self.by_customer.pop(old, None)
        return h

    def customer(self, handle: str) -> str | None:
        return self.handles.get(handle)

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, token or "")


class Sessions:
    """Session ids (256 random bits, sent only as an HttpOnly cookie) to sessions."""

    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}

    def create(self, key: ApiKey) -> tuple[str, Session]:
        self._expire()
        sid = secrets.token_urlsafe(32)
        session = Session(key.key_id, key.scope)
        self._by_id[sid] = session
        return sid, session

    def get(self, sid: str | None, keys: dict[str, ApiKey]) -> Session | None:
        """The live session for a cookie value, or None (unknown, idle too long, or its key
        revoked since it signed in)."""
        session = self._by_id.get(sid or "")
        if session is None:
            return None
        key = keys.get(session.key_id)
        now = time.monotonic()
        if key is None or not key.active or now - session.seen > IDLE_SECONDS:
            self._by_id.pop(sid or "", None)
            return None
        session.seen = now
        return session

    def end(self, sid: str | None) -> None:
        self._by_id.pop(sid or "", None)

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [s for s, v in self._by_id.items() if now - v.seen > IDLE_SECONDS]:
            del self._by_id[sid]
