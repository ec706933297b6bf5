"""What every command module shares: option types, output modes, and error mapping."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from xmodal_cli import render
from xmodal_cli.errors import UsageError, XmodalError


# Shell completion (`xmodal --install-completion`): what each option accepts. Kept free of
# heavy imports, since the shell runs xmodal on every Tab.
def complete_types(incomplete: str) -> list[str]:
    """Values of --type that start with what was typed."""
    return [t for t in ("audio", "image", "text", "video") if t.startswith(incomplete)]


def complete_sort(incomplete: str) -> list[str]:
    """Values of --sort that start with what was typed."""
    from xmodal_cli.ordering import SORT_KEYS

    return [key for key in SORT_KEYS if key.startswith(incomplete)]


def complete_profiles(incomplete: str) -> list[str]:
    """Model profile names (for --model) that start with what was typed."""
    from xmodal_cli.models.registry import PROFILES

    return [name for name in PROFILES if name.startswith(incomplete)]


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
        help="Only this type: audio, image, text or video (repeatable).",
        show_default=False,
        autocompletion=complete_types,
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


@contextmanager
def reported_errors() -> Iterator[None]:
    """Translate domain errors and Ctrl-C into one-line messages and exit codes."""
    try:
        yield
    except typer.Exit:
        raise
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


def output_mode(*, as_json: bool, jsonl: bool, paths: bool) -> str:
    """The one output mode asked for: table, json, jsonl or paths."""
    chosen = [name for name, on in (("json", as_json), ("jsonl", jsonl), ("paths", paths)) if on]
    if len(chosen) > 1:
        raise UsageError(f"choose one output mode, not {' and '.join('--' + c for c in chosen)}")
    return chosen[0] if chosen else "table"
