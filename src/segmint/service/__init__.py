"""The service: one workspace held open, events in through the write-ahead log, live state,
keys and rate limits, refits, and notifications.

A layer below :mod:`segmint.api` (which only speaks HTTP) and above :mod:`segmint.pipeline`
(which a refit runs). Nothing is opened at import.
"""

from segmint.service.config import ServiceConfig
from segmint.service.engine import Engine
from segmint.service.errors import Conflict, NotFound, ServiceUnavailable

__all__ = ["Conflict", "Engine", "NotFound", "ServiceConfig", "ServiceUnavailable"]
