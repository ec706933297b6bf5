"""The filter options that search, similar and dupes share (parsed by filtering.py), and
search's --preview."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from xmodal_cli import render
from xmodal_cli.filtering import Facets, make_facets

if TYPE_CHECKING:
    from xmodal_cli.search import Result

After = Annotated[
    str | None,
    typer.Option(
        "--after",
        help="Only files dated on or after this: 2023, 2023-06, 2023-06-01, '2023-06-01 18:30' "
        "or an age (12h, 30d, 2w, 6mo, 1y). The date taken (EXIF, a recording's date tag), "
        "else the file's modification time; local times.",
        show_default=False,
    ),
]
Before = Annotated[
    str | None,
    typer.Option(
        "--before",
        help="Only files dated on or before this (inclusive: 2023 means up to 31 December).",
        show_default=False,
    ),
]
Near = Annotated[
    str | None,
    typer.Option(
        "--near",
        help="Only photos taken near a town (Lisbon; 'Paris, FR') or LAT,LON, by EXIF GPS.",
        show_default=False,
    ),
]
Radius = Annotated[
    float | None,
    typer.Option("--radius", help="Kilometres around --near [default: 10].", show_default=False),
]
Exts = Annotated[
    list[str] | None,
    typer.Option("--ext", help="Only files with this extension (repeatable).", show_default=False),
]
MinSize = Annotated[
    str | None,
    typer.Option(
        "--min-size", help="Only files at least this big: 500k, 1MB, 2GiB.", show_default=False
    ),
]
MaxSize = Annotated[
    str | None,
    typer.Option("--max-size", help="Only files at most this big.", show_default=False),
]
Longer = Annotated[
    str | None,
    typer.Option(
        "--longer",
        help="Only recordings and videos at least this long: 90s, 10m, 1h30m.",
        show_default=False,
    ),
]
Shorter = Annotated[
    str | None,
    typer.Option(
        "--shorter", help="Only recordings and videos at most this long.", show_default=False
    ),
]
Camera = Annotated[
    str | None,
    typer.Option(
        "--camera", help="Only photos whose camera make/model contains this.", show_default=False
    ),
]


def facets_of(
    after: str | None,
    before: str | None,
    near: str | None,
    radius: float | None,
    exts: list[str] | None,
    min_size: str | None,
    max_size: str | None,
    longer: str | None,
    shorter: str | None,
    camera: str | None,
) -> Facets:
    """The facets the options ask for (a bad value raises UsageError with a hint)."""
    return make_facets(
        after=after,
        before=before,
        near=near,
        radius=radius,
        exts=exts or (),
        min_size=min_size,
        max_size=max_size,
        longer=longer,
        shorter=shorter,
        camera=camera,
    )


Preview = Annotated[
    bool,
    typer.Option(
        "--preview",
        help="Show a thumbnail beside each photo and a loudness line beside each recording "
        "(in a terminal; images where it can draw them, else coloured half blocks).",
    ),
]


def show_results(rows: list[Result], mode: str, *, null: bool, preview: bool) -> None:
    """Print results; with `preview` (table output to a terminal only) with previews."""
    if preview and mode == "table" and sys.stdout.isatty():
        from xmodal_cli.preview import results_with_previews

        results_with_previews(rows, render.stdout_console())
    else:
        render.results(rows, mode, null=null)
