"""Console output shared by the commands: messages and progress on stderr, data on stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from segmint.errors import SegmintError

err = Console(stderr=True)
out = Console(soft_wrap=True)


def print_json(data: Any) -> None:
    """Machine-readable output: plain JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def progress_bar(quiet: bool = False) -> Iterator[Callable[[str, int, int], None]]:
    """Yield a ``progress(step, done, total)`` callback drawing one bar per step on stderr."""
    if quiet:
        yield lambda step, done, total: None
        return
    bars = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
    tasks: dict[str, int] = {}

    def update(step: str, done: int, total: int) -> None:
        if step not in tasks:
            for other in tasks.values():
                task = bars.tasks[other]
                bars.update(other, completed=task.total)
            tasks[step] = bars.add_task(step, total=max(total, 1))
        bars.update(tasks[step], completed=done, total=max(total, 1))

    with bars:
        yield update
        for task_id in tasks.values():
            bars.update(task_id, completed=bars.tasks[task_id].total)


WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        envvar="SEGMINT_WORKSPACE",
        help="Workspace directory (created on first use).",
        show_default=True,
    ),
]
DEFAULT_WORKSPACE = Path("segmint-workspace")


def fail(exc: SegmintError) -> typer.Exit:
    """Print a user error as one line on stderr; the exit to raise, with its code."""
    # one line, however narrow the terminal: scripts grep for it, and a wrapped path is unusable
    err.print(f"[bold red]error:[/bold red] {exc}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code=getattr(exc, "exit_code", 1))
