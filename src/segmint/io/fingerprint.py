"""Fingerprint of a user's file: what was ingested, so a run can say which data it saw."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_fingerprint(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()
