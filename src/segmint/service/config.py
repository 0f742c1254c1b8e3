"""The limits and timings of one service instance."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServiceConfig:
    """Limits and timings of one service instance."""

    max_body_bytes: int = 10 * 1024 * 1024
    #: request target and headers together (431 above it)
    max_header_bytes: int = 16 * 1024
    rate_per_second: float = 2000.0
    rate_burst: float = 4000.0
    #: failed authentications allowed per client address per minute (then 429 until refilled)
    auth_failures_per_minute: int = 30
    flush_interval_s: float = 0.2
    flush_max_events: int = 200_000
    wal_segment_bytes: int = 64 * 1024 * 1024
    webhook_timeout_s: float = 5.0
    #: tries per notification; with delays doubling from ``webhook_backoff_s`` up to 5 min,
    #: 20 tries span about 55 minutes of a receiver being down
    webhook_max_attempts: int = 20
    webhook_backoff_s: float = 0.5
    #: a notification not delivered after this many seconds is given up
    webhook_max_age_s: float = 24 * 3600.0
    #: webhook requests in flight at once (each webhook has at most one)
    webhook_concurrency: int = 8
    #: let webhooks call loopback addresses (local testing; private ones stay refused)
    allow_loopback_webhooks: bool = False
    #: the port the service listens on (a loopback webhook on it would call the service)
    port: int | None = None
    #: weeks of stored purchases the change-detection baseline is fitted on
    drift_baseline_weeks: int = 26
    #: refit the segmentation this often (seconds) when events arrived since the last refit;
    #: None: only on request (POST /v1/runs)
    refit_interval_s: float | None = None
    #: seed of scheduled refits (a requested one names its own)
    refit_random_state: int = 0
    #: in-control average run length of the whole family of charts, in weeks: one false alarm
    #: in about 370 weeks per chart would be one a week or two over ~50 charts, so the limit
    #: is set per chart from 370.4 x 50
    drift_arl0: float = 370.4 * 50
