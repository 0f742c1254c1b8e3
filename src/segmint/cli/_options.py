"""Options shared by several commands, declared once (Typer ``Annotated`` aliases)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

RunOpt = Annotated[
    int | None, typer.Option("--run", "-r", help="Run id (default: the latest run).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
SegmentsOpt = Annotated[
    int | None,
    typer.Option(
        "--segments",
        "-k",
        min=2,
        max=30,
        help="Number of segments (default: chosen automatically).",
    ),
]
MethodOpt = Annotated[
    str,
    typer.Option(
        "--method",
        help="Clustering: kmeans, minibatch, gmm, or auto (minibatch on large data, else kmeans).",
    ),
]
SpaceOpt = Annotated[
    str,
    typer.Option(
        "--space",
        help=(
            "What segments are found on: useful (expected value, behaviour and interest, "
            "learned from the quarter before; the default) or behaviour (every behaviour "
            "feature equally: behavioural personas)."
        ),
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed; same seed, same segments.")]
ReportOpt = Annotated[
    Path | None,
    typer.Option(
        "--report", help="Where to write the HTML report (default: WORKSPACE/reports/run-N.html)."
    ),
]

#: how activation commands name their customers (``segmint.activate.selection``)
SEGMENT_SPEC_HELP = "Segment id or name, micro-segment id, or high-value / at-risk."
SegmentSpecOpt = Annotated[
    str, typer.Option("--segment", "-s", help=SEGMENT_SPEC_HELP, show_default=False)
]
