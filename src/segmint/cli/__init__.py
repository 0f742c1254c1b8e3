"""The ``segmint`` command line (Typer): thin commands over :mod:`segmint.pipeline`."""

from segmint.cli.main import app, main

__all__ = ["app", "main"]
