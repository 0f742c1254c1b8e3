"""Segmentation (placeholder while building)."""
