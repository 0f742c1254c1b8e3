"""Real time: live profiles, live assignment, change detection and webhooks.

- :class:`ProfileStore`: array-backed per-customer aggregates giving the batch features live
  (:func:`profiles_from_workspace` loads them in bulk);
- :mod:`~segmint.realtime.live`: the service's live state (profiles, segments, membership);
- :mod:`~segmint.realtime.wal`: the write-ahead log with group commit;
- :mod:`~segmint.realtime.dedupe`: event-id digests for idempotent ingest;
- :func:`segmint.segment.segmenter_from_dict` (re-exported): the batch model for live assignment;
- :class:`SortedKeys`: a compact sorted set of fixed-size keys (the service's seen event ids);
- :class:`DriftDetector`: EWMA control charts per segment raising :class:`Alert`;
- :class:`WebhookSender`: signed, retried webhook deliveries from the durable outbox
  (:func:`sign`, :func:`verify`); :mod:`segmint.realtime.urlguard` decides which destinations
  may be called.
"""

from segmint.realtime._arrays import SortedKeys
from segmint.realtime.drift import Alert, DriftDetector, ewma_arl, ewma_limit
from segmint.realtime.profile_load import profiles_from_workspace
from segmint.realtime.profiles import FEATURE_COLUMNS, ProfileStore, category_columns
from segmint.realtime.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    RetryPolicy,
    WebhookSender,
    sign,
    verify,
)
from segmint.segment.persist import LiveSegmenter, segmenter_from_dict, segmenter_to_dict

__all__ = [
    "DELIVERY_HEADER",
    "EVENT_HEADER",
    "FEATURE_COLUMNS",
    "SIGNATURE_HEADER",
    "Alert",
    "DriftDetector",
    "LiveSegmenter",
    "ProfileStore",
    "RetryPolicy",
    "SortedKeys",
    "WebhookSender",
    "category_columns",
    "ewma_arl",
    "ewma_limit",
    "segmenter_from_dict",
    "profiles_from_workspace",
    "segmenter_to_dict",
    "sign",
    "verify",
]
