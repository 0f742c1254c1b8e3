"""The progress callback every pipeline step reports through: ``callback(step, done, total)``."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]


def no_progress(step: str, done: int, total: int) -> None:
    """The default callback: report nothing."""
    return None
