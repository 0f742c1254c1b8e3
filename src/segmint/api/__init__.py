"""The HTTP service: ``create_app(workspace)`` builds the FastAPI app served by ``segmint serve``.

Nothing is opened at import; the app's lifespan opens the workspace, replays the write-ahead
log, and loads the latest run's model and live state.
"""

from __future__ import annotations

from segmint.api.app import create_app
from segmint.service import ServiceConfig

__all__ = ["ServiceConfig", "create_app"]
