"""`xmodal dupes [PATH...]`: groups of exact and near duplicates, with a keeper each.

Its output is printed here rather than in render.py: a group is a different shape from a
search hit, and render.py is near the module size limit.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from xmodal_cli import config, render
from xmodal_cli.cli_common import (
    IndexDir,
    Json,
    Jsonl,
    ModelPath,
    Null,
    Paths,
    Types,
    output_mode,
    reported_errors,
)
from xmodal_cli.cli_filters import (
    After,
    Before,
    Camera,
    Exts,
    Longer,
    MaxSize,
    MinSize,
    Near,
    Radius,
    Shorter,
    facets_of,
)
from xmodal_cli.errors import XmodalError

if TYPE_CHECKING:
    from xmodal_cli.dupes import Group


def dupes_command(
    folders: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Only indexed files inside these folders (default: all).", show_default=False
        ),
    ] = None,
    *,
    types: Types = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="Cosine at which two files count as near duplicates, in the space that compares "
            "their type [default: image 0.85, audio 0.98, text 0.90]. Lower finds more.",
            show_default=False,
        ),
    ] = None,
    extras: Annotated[
        bool, typer.Option("--extras", help="Show only what could go: every file but the keepers.")
    ] = False,
    after: After = None,
    before: Before = None,
    near: Near = None,
    radius: Radius = None,
    exts: Exts = None,
    min_size: MinSize = None,
    max_size: MaxSize = None,
    longer: Longer = None,
    shorter: Shorter = None,
    camera: Camera = None,
    as_json: Json = False,
    jsonl: Jsonl = False,
    paths: Paths = False,
    null: Null = False,
    model_path: ModelPath = None,
    index_dir: IndexDir = None,
) -> None:
    """Find duplicates: exact copies, and near ones (resized, recompressed, cropped, rotated,
    burst shots; re-encoded or trimmed recordings; a document in two formats).

    Each group names a keeper (largest resolution or longest recording, then oldest, then
    shortest path) and why. Nothing is deleted: --extras --paths lists what could be.

    Examples:

      xmodal dupes ~/Pictures

      xmodal dupes ~/Pictures --type image --threshold 0.95 --json

      xmodal dupes ~/Music --type audio --longer 1m

      xmodal dupes ~/Pictures --extras --paths -0 | xargs -0 trash-put
    """

    with reported_errors():
        from xmodal_cli.collection import open_collection
        from xmodal_cli.search import make_filters

        mode = output_mode(as_json=as_json, jsonl=jsonl, paths=paths)
        missing = [f for f in folders or () if not f.expanduser().exists()]
        if missing:  # a typo would otherwise read as "no duplicates"
            raise XmodalError(f"path not found: {missing[0]}", "check the spelling")
        facets = facets_of(
            after, before, near, radius, exts, min_size, max_size, longer, shorter, camera
        )
        filters = make_filters(types or (), folders or (), None, facets)
        with open_collection(
            config.index_dir(index_dir), model_path=config.model_path(model_path)
        ) as collection:
            groups = collection.dupes(
                types=filters.types, under=filters.under, facets=filters.facets, threshold=threshold
            )
        _print(groups, mode, extras=extras, null=null)


def _print(groups: list[Group], mode: str, *, extras: bool, null: bool) -> None:
    if mode == "json":
        data = [g.as_dict(extras=extras) for g in groups]
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    elif mode == "jsonl":
        for group in groups:
            sys.stdout.write(json.dumps(group.as_dict(extras=extras), ensure_ascii=False) + "\n")
    elif mode == "paths":
        end = "\0" if null else "\n"
        for group in groups:
            for member in group.files[1:] if extras else group.files:
                sys.stdout.write(member.path + end)
    else:
        _table(groups, extras=extras)
    sys.stdout.flush()


def _table(groups: list[Group], *, extras: bool) -> None:
    if not groups:
        render.stderr_console().print("No duplicates.", style="dim")
        return
    table = Table(show_edge=False, header_style="bold")
    for name, justify in (("#", "right"), ("kind", "left"), ("score", "right")):
        table.add_column(name, justify=justify, style="dim" if name == "#" else None)  # type: ignore[arg-type]
    table.add_column("path", overflow="fold", style="cyan")
    table.add_column("note")
    for number, group in enumerate(groups, start=1):
        for place, member in enumerate(group.files):
            if extras and place == 0:
                continue
            note = f"keep: {group.why}" if place == 0 else ""
            kind = f"{group.kind} {group.type}" if place == (1 if extras else 0) else ""
            table.add_row(str(number), kind, f"{member.score:.3f}", _shown(member.path), note)
        table.add_section()
    render.stdout_console().print(table)
    copies = sum(len(g.files) - 1 for g in groups)
    render.stderr_console().print(
        f"{len(groups)} groups, {copies} files besides the keepers", style="dim"
    )


def _shown(path: str) -> str:
    cwd = os.getcwd()
    return os.path.relpath(path, cwd) if path.startswith(cwd + os.sep) else path
