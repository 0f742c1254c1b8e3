"""segmint: customer segmentation from raw transactions to named, explained segments.

The public API is re-exported here; everything else is internal.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
