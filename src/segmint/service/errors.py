"""What the service refuses; ``segmint.api.errors`` maps each to an HTTP status."""

from __future__ import annotations

from segmint.errors import SegmintError


class ServiceUnavailable(SegmintError):
    """The service cannot take the request now (starting, shutting down, log failed)."""


class Conflict(SegmintError):
    """The request conflicts with work in progress."""


class NotFound(SegmintError, LookupError):
    """No such resource."""
