"""`xmodal tune [PAIRS]`: teach the index your own vocabulary with a query adapter."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from xmodal_cli import config, render
from xmodal_cli.cli_common import IndexDir, JsonReport, ModelPath, Quiet, reported_errors
from xmodal_cli.errors import UsageError, XmodalError

if TYPE_CHECKING:  # for real only inside the command: `--help` stays fast
    from xmodal_cli.evaluation import Pair
    from xmodal_cli.store.rows import FileRow
    from xmodal_cli.tuning import Outcome, TuneReport


def tune_command(
    pairs: Annotated[
        Path | None,
        typer.Argument(
            help="JSONL or CSV of queries and their files (as for `xmodal eval`); "
            "default: the captions beside your indexed photos and recordings.",
            show_default=False,
        ),
    ] = None,
    *,
    from_names: Annotated[
        bool,
        typer.Option("--from-names", help="Also learn from folder and file names (weakest)."),
    ] = False,
    reset: Annotated[
        bool, typer.Option("--reset", help="Remove the adapter; search as before tuning.")
    ] = False,
    held_out: Annotated[
        float,
        typer.Option(
            "--held-out",
            min=0.05,
            max=0.5,
            help="Share of captions (or files) held out to judge it.",
        ),
    ] = 0.2,
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="Hold out whole captions (new words for described photos) or whole files "
            "(photos never shown to it: stricter): caption or file.",
        ),
    ] = "caption",
    epochs: Annotated[
        int, typer.Option("--epochs", min=1, help="Most passes over the pairs.")
    ] = 80,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split and the training.")] = 0,
    as_json: JsonReport = False,
    quiet: Quiet = False,
    model_path: ModelPath = None,
    index_dir: IndexDir = None,
) -> None:
    """Learn from your own captions: a small query adapter, kept only if it helps.

    Pairs come from PAIRS, or else from captions beside your indexed photos and recordings:
    photo.txt / photo.jpg.txt / .caption sidecars, XMP dc:description and dc:subject
    (sidecar or embedded), Google Takeout .json descriptions, EXIF ImageDescription and
    UserComment, audio tags; --from-names adds folder and file names. A share of the
    captions (with --split file: of the files) is held out: the adapter is saved only when
    it beats no adapter on their Recall@1 (exit 1 with the figures otherwise). It applies
    only to searches nearer your captions than everyday things (emoji names): generic
    searches keep their first result. Stored vectors are not touched; `xmodal eval
    --no-tune` measures without the adapter, and --reset removes it.

    Examples:

      xmodal tune

      xmodal tune captions.jsonl --json

      xmodal tune --from-names --held-out 0.3

      xmodal tune captions.jsonl --split file

      xmodal tune --reset
    """

    with reported_errors():
        from xmodal_cli.collection import open_collection

        directory = config.index_dir(index_dir)
        if reset:
            with open_collection(directory, write=True, models=False) as collection:
                removed = collection.reset_tune()
            if not quiet:
                render.stderr_console().print(
                    "removed the adapter" if removed else "there was no adapter to remove"
                )
            return
        if split not in ("caption", "file"):
            raise UsageError(f"--split {split!r} is not a split", "use --split caption or file")
        from xmodal_cli.evaluation import read_pairs
        from xmodal_cli.tuning import TuneOptions

        given = read_pairs(pairs) if pairs is not None else []  # a bad file fails first
        with open_collection(
            directory, write=True, model_path=config.model_path(model_path)
        ) as collection:
            found = given + _caption_pairs(collection.catalog.files(), pairs, from_names)
            if not found:
                raise UsageError(
                    "nothing to learn from: no captions beside the indexed photos and recordings",
                    "give a PAIRS file (as for `xmodal eval`), or try --from-names",
                )
            progress = render.TuneProgress(quiet=quiet)
            try:
                report = collection.tune(
                    found,
                    options=TuneOptions(held_out=held_out, split=split, epochs=epochs, seed=seed),
                    progress=progress,
                )
            finally:
                progress.finish()
        render.tune_summary(report.as_dict(), _notes(report), as_json=as_json, quiet=quiet)
        if not report.kept:
            raise XmodalError(
                "no adapter saved: none beat no adapter on the held-out pairs ("
                + "; ".join(_figures(o) for o in report.outcomes)
                + ")",
                "more or more varied pairs help; search is unchanged",
            )


def _caption_pairs(files: dict[str, FileRow], given: Path | None, names: bool) -> list[Pair]:
    """Captions of the indexed photos and recordings when no PAIRS is given; with PAIRS,
    only their names (and only with --from-names)."""
    from xmodal_cli.captions import caption_pairs, name_captions
    from xmodal_cli.evaluation import Pair

    media = [(p, row.modality) for p, row in sorted(files.items()) if row.modality != "text"]
    if given is None:
        return caption_pairs(media, names=names)
    if not names:
        return []
    return [Pair(text, (path,), kind) for path, kind in media for text in name_captions(path)]


def _figures(outcome: Outcome) -> str:
    label = f"{outcome.type} in {outcome.space}"
    if not outcome.before:
        return f"{label}: {outcome.reason}"
    return (
        f"{label}: held-out R@1 {outcome.before['recall@1']:.3f} → "
        f"{outcome.after['recall@1']:.3f}, R@5 {outcome.before['recall@5']:.3f} → "
        f"{outcome.after['recall@5']:.3f}"
    )


def _notes(report: TuneReport) -> list[str]:
    notes = []
    if report.missing:
        notes.append(f"{len(report.missing)} paths are not in the index and were left out")
    leaks = sum(o.leaks for o in report.outcomes)
    if leaks:
        notes.append(
            f"held out {leaks} items whose own words (names, tags, text) contain a query: "
            "finding them would be lookup, not search"
        )
    return notes
