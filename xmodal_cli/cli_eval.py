"""`xmodal eval PAIRS`: how well the index finds the files that queries should find."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from xmodal_cli import config, render
from xmodal_cli.cli_common import IndexDir, JsonReport, ModelPath, Quiet, reported_errors


def eval_command(
    pairs: Annotated[
        Path,
        typer.Argument(
            help="JSONL or CSV of queries and the files each should find.", show_default=False
        ),
    ],
    *,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", "-n", min=10, help="Files ranked per query (MRR and mAP look this deep)."
        ),
    ] = 100,
    kind: Annotated[
        str | None,
        typer.Option(
            "--type",
            "-t",
            help="Search only this type (audio, image or text) for queries that name none.",
            show_default=False,
        ),
    ] = None,
    no_tune: Annotated[
        bool, typer.Option("--no-tune", help="Search without the adapter of `xmodal tune`.")
    ] = False,
    as_json: JsonReport = False,
    quiet: Quiet = False,
    model_path: ModelPath = None,
    index_dir: IndexDir = None,
) -> None:
    """Measure search on your own pairs: Recall@1/5/10, MRR, mAP and nDCG@10 per type.

    PAIRS is JSONL, one query a line ({"query": "a cat", "paths": ["cat.jpg"], "type":
    "image"}; "path" for one file; type optional), or CSV with columns query,path[,type] and
    one row per relevant file. Relative paths are relative to PAIRS. Each figure comes with
    a 95% bootstrap interval. Paths that are not indexed are reported and left out; a
    relevant file whose own words (a note's text, a file name) contain the query is held out
    of that query's ranking, so the figures measure search, not lookup.

    Examples:

      xmodal eval captions.jsonl

      xmodal eval pairs.csv --type image --json | jq .all.mrr

      xmodal eval pairs.jsonl -n 20 --index-dir ~/photo-index

      xmodal eval held_out.jsonl --no-tune
    """

    with reported_errors():
        from xmodal_cli.collection import open_collection
        from xmodal_cli.evaluation import evaluate, read_pairs
        from xmodal_cli.search import make_filters

        make_filters([kind] if kind else [])  # an unknown --type is a usage error
        queries = read_pairs(pairs)  # a bad PAIRS file fails before any model loads
        with open_collection(
            config.index_dir(index_dir), model_path=config.model_path(model_path)
        ) as collection:
            catalog = collection.catalog

            def indexed_type(path: str) -> str | None:
                row = catalog.file_by_path(path)
                return row.modality if row else None

            result = evaluate(
                queries,
                search=functools.partial(collection.search, tuned=not no_tune),
                indexed=indexed_type,
                limit=limit,
                default_type=kind,
            )
        render.evaluation(result.as_dict(), result.notes(), as_json=as_json, quiet=quiet)
