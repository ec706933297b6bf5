"""Command line: parse, call one service, hand the result to render; map errors to exit codes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from xmodal_cli import __version__, config, render
from xmodal_cli.cli_common import (
    IndexDir,
    JsonReport,
    ModelPath,
    Quiet,
    complete_profiles,
    reported_errors,
)
from xmodal_cli.cli_dupes import dupes_command
from xmodal_cli.cli_eval import eval_command
from xmodal_cli.cli_models import models_app
from xmodal_cli.cli_search import search_command, similar_command
from xmodal_cli.cli_serve import serve_command
from xmodal_cli.cli_tune import tune_command
from xmodal_cli.cli_watch import keep_watching, watched_roots
from xmodal_cli.errors import UsageError

app = typer.Typer(
    name="xmodal",
    help="Search your own photos, recordings and notes by meaning, offline.\n\n"
    "Index folders once (later runs only touch what changed), then ask in plain words.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)
app.add_typer(models_app, name="models")


@app.command()
def index(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Folders or files to index.", show_default=False)
    ] = None,
    *,
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude",
            "-x",
            help="Skip names or paths matching this glob (repeatable).",
            show_default=False,
        ),
    ] = None,
    hidden: Annotated[
        bool, typer.Option("--hidden", help="Also index hidden files and folders.")
    ] = False,
    follow_links: Annotated[
        bool, typer.Option("--follow-links", help="Follow symbolic links, even out of PATHS.")
    ] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Rebuild the FAISS files from the SQLite catalog.")
    ] = False,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            help="Images per model batch (default 32; with --device cuda, sized to free memory).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Decoding threads.")] = max(
        1, os.cpu_count() or 1
    ),
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or mps.")] = "auto",
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Model profile (see `xmodal models`). An existing index built by another "
            "re-encodes in place; searches use the old vectors until it finishes.",
            show_default=False,
            autocompletion=complete_profiles,
        ),
    ] = None,
    model_path: ModelPath = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Then keep indexing what changes under PATHS (default: the folders indexed "
            "before), a burst of changes at a time, until Ctrl-C.",
        ),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Decode and encode on a Ray cluster: auto (the one `ray start` runs here), "
            "HOST:PORT or ray://HOST:10001. This process plans and stays the only writer.",
            show_default=False,
        ),
    ] = None,
    ship_bytes: Annotated[
        bool,
        typer.Option(
            "--ship-bytes", help="With --ray: send file contents to workers that cannot see PATHS."
        ),
    ] = False,
    ray_workers: Annotated[
        int | None,
        typer.Option(
            "--ray-workers",
            min=1,
            help="With --ray: workers to start (default: one per GPU, else one per 2 CPUs).",
            show_default=False,
        ),
    ] = None,
    ocr: Annotated[
        bool | None,
        typer.Option(
            "--ocr/--no-ocr",
            help="Read the words in photos and screenshots (default: as the index records, "
            "on for a new one). A change re-encodes the index in place.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonReport = False,
    quiet: Quiet = False,
    index_dir: IndexDir = None,
) -> None:
    """Index photos, recordings, videos and text files; later runs only encode what changed.

    New and changed files are encoded, deleted files are pruned, renamed files keep their
    vectors. Unreadable files are skipped with a reason. Ctrl-C keeps what was committed.
    An index built by older models (or by another profile, with --model) is first
    re-encoded in place, resumably; searches use the old vectors until the switch.
    Speech in recordings is transcribed (Whisper tiny.en, offline); other sounds are
    described by their tags, names and measured traits. Photos are also described by the
    faces in them (how many, how close; never who) and the words written in them (OCR).

    Examples:

      xmodal index ~/Pictures ~/Notes ~/Recordings

      xmodal index ~/Pictures --exclude '*.tmp' --exclude 'cache'

      xmodal index ~/Pictures --model clip

      xmodal index --rebuild

      xmodal index --watch ~/Pictures ~/Notes

      xmodal index /mnt/archive --ray auto --ship-bytes
    """

    with reported_errors():
        from xmodal_cli.collection import open_collection
        from xmodal_cli.distributed import cluster
        from xmodal_cli.indexer import IndexOptions
        from xmodal_cli.planner import check_roots

        if not paths and not rebuild and not watch:
            raise UsageError("give at least one folder or file to index", "xmodal index ~/Pictures")
        if watch and ray_address:
            raise UsageError("--ray does not combine with --watch", "index with --ray, then watch")
        check_roots(paths or ())  # a typo'd path must not leave a new, empty index behind
        remote = cluster(  # before the index is created: a bad --ray must leave nothing behind
            ray_address, ship_bytes=ship_bytes, workers=ray_workers, batch_size=batch_size
        )
        with open_collection(
            config.index_dir(index_dir),
            write=True,
            create=True,
            model=model,
            device=config.check_device(device),
            model_path=config.model_path(model_path),
            read_text=ocr,
        ) as collection:
            if collection.defaulted and not quiet:
                render.default_model_note(collection.profile_name or "lite")
            if rebuild:
                counts = collection.rebuild()
                if not quiet:
                    render.stderr_console().print(
                        "rebuilt " + ", ".join(f"{s}: {n} vectors" for s, n in counts.items())
                    )
            options = IndexOptions(
                exclude=tuple(exclude or ()),
                include_hidden=hidden,
                follow_links=follow_links,
                batch_size=config.batch_size(batch_size, device),
                workers=workers,
            )
            paths = watched_roots(collection, paths) if watch else paths
            if paths:
                reporter = render.ProgressReporter(quiet=quiet)
                summary = collection.index(paths, options=options, reporter=reporter, remote=remote)
                render.index_summary(summary, as_json=as_json, quiet=quiet)
        if watch:  # after the with: each batch takes the writer lock for itself
            keep_watching(collection, paths or [], options, quiet=quiet, as_json=as_json)


app.command("search")(search_command)  # its own module: cli.py stays thin
app.command("similar")(similar_command)
app.command("dupes")(dupes_command)
app.command("serve")(serve_command)


@app.command()
def status(
    *,
    as_json: JsonReport = False,
    index_dir: IndexDir = None,
) -> None:
    """Show where the index lives, which models built it, and what it holds.

    Examples:

      xmodal status

      xmodal status --json | jq .counts
    """

    with reported_errors():
        from xmodal_cli.collection import open_collection

        with open_collection(config.index_dir(index_dir), models=False) as collection:
            info = collection.status()
        render.status(info, as_json=as_json)


@app.command()
def check(
    *,
    repair: Annotated[
        bool, typer.Option("--repair", help="Rebuild derived files and drop unusable rows.")
    ] = False,
    as_json: JsonReport = False,
    index_dir: IndexDir = None,
) -> None:
    """Verify the index: schema, vectors, FAISS files and the word index against SQLite,
    files on disk.

    Exit code 0 when the index is consistent, 1 when problems were found (listed). With
    --repair, derived files (FAISS, the word index) are rebuilt from SQLite and unusable
    rows dropped first.

    Examples:

      xmodal check

      xmodal check --repair --json
    """

    with reported_errors():
        from xmodal_cli.collection import open_collection

        directory = config.index_dir(index_dir)
        with open_collection(directory, write=repair, models=False) as collection:
            report = collection.check(repair=repair)
        render.check_report(report.as_dict(), as_json=as_json)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def remove(
    paths: Annotated[
        list[Path], typer.Argument(help="Folders or files to forget.", show_default=False)
    ],
    *,
    quiet: Quiet = False,
    index_dir: IndexDir = None,
) -> None:
    """Forget indexed files under PATHS (the files themselves are not touched).

    Rows, passages and vectors are deleted and their pages overwritten, so no text of a
    removed file stays behind in the index.

    Examples:

      xmodal remove ~/Pictures/old

      xmodal remove ~/Notes/private.md
    """

    with reported_errors():
        from xmodal_cli.collection import open_collection

        directory = config.index_dir(index_dir)
        with open_collection(directory, write=True, models=False) as collection:
            count = collection.remove(paths)
        if not quiet:
            render.stderr_console().print(f"removed {count} files from the index")


app.command("eval")(eval_command)  # likewise
app.command("tune")(tune_command)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"xmodal {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Search your own photos, recordings and notes by meaning, offline."""


def main() -> None:
    """Console-script entry point."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the offline profile never needs the hub
    os.umask(0o077)  # the index holds passages of private files: nothing we create is shared
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()
