"""`xmodal index --watch`: which folders to watch, and a line per batch (watching.py runs it)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from xmodal_cli import render
from xmodal_cli.errors import UsageError, XmodalError

if TYPE_CHECKING:  # loaded when a command runs, not with `xmodal --help`
    from xmodal_cli.collection import Collection
    from xmodal_cli.indexer import IndexOptions, IndexSummary


def watched_roots(collection: Collection, paths: list[Path] | None) -> list[Path]:
    """PATHS, else the folders this index was given before (those still there)."""
    if paths:
        return paths
    roots = [Path(r) for r in collection.roots()]
    gone = [r for r in roots if not r.exists()]
    for root in gone:
        render.stderr_console().print(f"not watching {root}: it is gone", style="yellow")
    kept = [r for r in roots if r.exists()]
    if not kept:
        raise UsageError(
            "this index remembers no folder to watch", "name them: xmodal index --watch ~/Pictures"
        )
    return kept


def keep_watching(
    collection: Collection,
    roots: list[Path],
    options: IndexOptions,
    *,
    quiet: bool,
    as_json: bool,
) -> None:
    """Index each burst of changes under `roots` until Ctrl-C (the collection is closed:
    each batch takes the writer lock for itself, with the same models)."""
    try:
        from xmodal_cli.watching import watch
    except ImportError as exc:  # pragma: no cover - watchdog is a dependency
        raise XmodalError(f"--watch needs {exc.name}", "pip install watchdog") from None
    if collection.profile is None:
        raise RuntimeError("watching needs the models")
    if not quiet:
        shown = ", ".join(str(r) for r in roots)
        render.stderr_console().print(f"watching {shown}; Ctrl-C to stop", style="dim")

    def report(summary: IndexSummary, folders: list[str]) -> None:
        if as_json:
            line = json.dumps({"folders": folders, **summary.as_dict()})
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        elif not quiet:
            where = ", ".join(
                os.path.relpath(f) if f.startswith(os.getcwd()) else f for f in folders
            )
            render.stderr_console().print(f"{where}: {render.summary_line(summary)}")

    try:
        watch(
            collection.directory,
            roots,
            profile=collection.profile,
            options=options,
            on_batch=report,
            reporter=lambda: render.ProgressReporter(quiet=quiet),
        )
    except KeyboardInterrupt:  # the usual way to stop watching: not an error
        if not quiet:
            render.stderr_console().print("stopped watching; every batch so far is committed")
        raise typer.Exit(130) from None
