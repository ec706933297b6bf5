"""`xmodal search QUERY` and `xmodal similar FILE`: the commands that find files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from xmodal_cli import config, render
from xmodal_cli.cli_common import (
    IndexDir,
    Json,
    Jsonl,
    Limit,
    MinScore,
    ModelPath,
    Null,
    Paths,
    Types,
    Under,
    complete_sort,
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
    Preview,
    Radius,
    Shorter,
    facets_of,
    show_results,
)
from xmodal_cli.errors import UsageError, XmodalError

MinRelevance = Annotated[
    float | None,
    typer.Option(
        "--min-relevance",
        min=0.0,
        max=1.0,
        help="Drop hits less likely relevant than this (0-1, the table's rel column). "
        "Without it, files of other types than the best hit's show only from 0.01.",
        show_default=False,
    ),
]
Sort = Annotated[
    str,
    typer.Option(
        "--sort",
        help="Order of the files found: relevance, date (taken, else modified; newest "
        "first), name or size (largest first). Relevance still picks which files.",
        autocompletion=complete_sort,
    ),
]


def search_command(
    query: Annotated[
        list[str] | None,
        typer.Argument(
            help="What you are looking for, in plain words; or quoted terms joined by + and -, "
            'e.g. "beach" + "sunset" - "people" (see below).',
            show_default=False,
        ),
    ] = None,
    *,
    like: Annotated[
        list[Path] | None,
        typer.Option(
            "--like",
            help="Also like this file: an image, recording or text file, indexed or not "
            "(repeatable; left out of the results).",
            show_default=False,
        ),
    ] = None,
    plain: Annotated[
        bool, typer.Option("--plain", help="Search QUERY as plain text: no + - or weights.")
    ] = False,
    queries: Annotated[
        Path | None,
        typer.Option(
            "--queries",
            help="Run each line of this file (- for stdin) as a query; models load once.",
            show_default=False,
        ),
    ] = None,
    sort: Sort = "relevance",
    limit: Limit = 10,
    types: Types = None,
    min_score: MinScore = None,
    min_relevance: MinRelevance = None,
    under: Under = None,
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
    preview: Preview = False,
    as_json: Json = False,
    jsonl: Jsonl = False,
    paths: Paths = False,
    null: Null = False,
    model_path: ModelPath = None,
    index_dir: IndexDir = None,
) -> None:
    """Find files by meaning: photos, recordings and passages that match a text query.

    Without --type, the types are ranked together by relevance (0-1, the rel column;
    score is the raw cosine). Exact words count too: a file holding every word of a plain
    query (an invoice number, a surname, a file name) ranks higher, marked ≡.

    Compound queries: quoted terms joined by a free-standing + or - ("beach" + "sunset"
    - "people"), with an optional weight before a colon inside the quotes ("2:snow" +
    "mountain hut"). Terms are combined in each space (weighted sum, renormalised); a -
    term lowers what it names but never pulls the query more than 30 degrees away from the
    + terms. Plain text is never split: "C++", "state-of-the-art", "10:30 standup" and
    "John 3:16" are plain queries, and --plain turns the grammar off. Half a compound
    ('"beach" + sunset' as one string) is an error, not a guess. --like FILE adds an
    example file to the words.

    Examples:

      xmodal search "a cat sleeping on a sofa"

      xmodal search "the meeting where we discussed the budget" --type audio

      xmodal search "tax receipt" --type text -n 5 --json

      xmodal search "red flowers" --under ~/Pictures/2023 --paths

      xmodal search "birthday" --after 2023-06-01 --before 2023-09-01 --ext jpg --min-size 1MB

      xmodal search "harbour" --near Lisbon --radius 25

      xmodal search "interview" --type audio --longer 10m

      xmodal search "red car" --preview

      xmodal search "beach" + "sunset" - "people"

      xmodal search "2:snow" + "mountain hut" --sort date

      xmodal search "dog" --like ~/Pictures/rex.jpg

      xmodal search --queries questions.txt --jsonl
    """

    with reported_errors():
        from xmodal_cli.collection import open_collection
        from xmodal_cli.search import make_filters

        mode = output_mode(as_json=as_json, jsonl=jsonl, paths=paths)
        facets = facets_of(
            after, before, near, radius, exts, min_size, max_size, longer, shorter, camera
        )
        filters = make_filters(types or (), under or (), min_score, facets, min_relevance)
        from xmodal_cli.ordering import check_sort, sort_results
        from xmodal_cli.query import parse_batch, parse_query

        check_sort(sort)
        if queries is not None and query:
            raise UsageError("give a QUERY or --queries, not both", "put QUERY in the file")
        if queries is not None:
            asked = parse_batch(_read(queries), likes=like or (), plain=plain)
        else:
            asked = [parse_query(query or [], likes=like or (), plain=plain)]
        with open_collection(
            config.index_dir(index_dir), model_path=config.model_path(model_path)
        ) as collection:
            found = [
                (q.source, sort_results(collection.search(q, limit=limit, filters=filters), sort))
                for q in asked
            ]
        if queries is None:
            show_results(found[0][1], mode, null=null, preview=preview)
        else:
            render.batch_results(found, mode, null=null)


def _read(source: Path) -> str:
    """The text of a --queries file, or of stdin for `-`."""
    if str(source) == "-":
        return sys.stdin.read()
    try:
        return source.expanduser().read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise XmodalError(
            f"cannot read {source}: {getattr(exc, 'strerror', None) or exc}",
            "give a UTF-8 text file with one query per line, or - to read them from stdin",
        ) from None


def similar_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="An image, recording or text file (indexed or not).", show_default=False
        ),
    ],
    *,
    sort: Sort = "relevance",
    limit: Limit = 10,
    types: Types = None,
    min_score: MinScore = None,
    min_relevance: MinRelevance = None,
    under: Under = None,
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
    preview: Preview = False,
    as_json: Json = False,
    jsonl: Jsonl = False,
    paths: Paths = False,
    null: Null = False,
    model_path: ModelPath = None,
    index_dir: IndexDir = None,
) -> None:
    """Find files like FILE: look-alike photos, sound-alike clips, related notes.

    FILE itself is left out.

    Results are of FILE's own type unless --type asks for others (a photo can find notes
    that talk about what it shows).

    Examples:

      xmodal similar ~/Pictures/beach.jpg

      xmodal similar ~/Pictures/beach.jpg --type image --paths | xargs -d '\\n' feh

      xmodal similar notes/budget.md --type text -n 5

      xmodal similar ~/Samples/kick_03.wav -n 20 --type audio
    """

    with reported_errors():
        from xmodal_cli.collection import open_collection
        from xmodal_cli.ordering import check_sort, sort_results
        from xmodal_cli.search import make_filters

        mode = output_mode(as_json=as_json, jsonl=jsonl, paths=paths)
        facets = facets_of(
            after, before, near, radius, exts, min_size, max_size, longer, shorter, camera
        )
        filters = make_filters(types or (), under or (), min_score, facets, min_relevance)
        with open_collection(
            config.index_dir(index_dir), model_path=config.model_path(model_path)
        ) as collection:
            rows = collection.similar(file, limit=limit, filters=filters)
        show_results(sort_results(rows, check_sort(sort)), mode, null=null, preview=preview)
