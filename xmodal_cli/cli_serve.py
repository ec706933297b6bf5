"""`xmodal serve`: parse, check the optional extra is installed, start uvicorn (server.py)."""

from __future__ import annotations

import socket
import sys
from typing import Annotated

import typer

from xmodal_cli import config, render
from xmodal_cli.cli_common import IndexDir, ModelPath, reported_errors
from xmodal_cli.errors import XmodalError

INSTALL_HINT = "pip install 'xmodal[serve]' (Starlette, uvicorn and Jinja2)"


def serve_command(
    *,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on; 0.0.0.0 opens it to your network."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="TCP port.")] = 8765,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the page in the default browser.")
    ] = False,
    thumbnail_cache: Annotated[
        str,
        typer.Option(
            "--thumbnail-cache", help="Most space the thumbnails kept beside the index may take."
        ),
    ] = "256MB",
    model_path: ModelPath = None,
    index_dir: IndexDir = None,
) -> None:
    """Search in a browser: a local web page and JSON API over the index, kept warm.

    Prints the address with a random token, needed by every request (the page keeps it in
    a cookie); nothing is opened unless --open. Only indexed files are served, and nothing
    in the index is changed except the thumbnail cache. An `xmodal index` running meanwhile
    is seen without a restart. API: /api/search?q=… (the query grammar, and the filters of
    `search` by their option names: type, under, after, before, near, radius, ext,
    min_size, max_size, longer, shorter, camera, min_score, min_relevance, sort, n),
    /api/similar?path=…, /api/status, /api/dupes; the same JSON as --json; errors as
    {"error", "hint"}.

    Examples:

      xmodal serve

      xmodal serve --open --port 9000

      curl -H "X-Xmodal-Token: $TOKEN" 'http://127.0.0.1:8765/api/search?q=sunset&type=image&n=5'
    """

    with reported_errors():
        try:
            import uvicorn

            from xmodal_cli import gate, server
        except ImportError as exc:
            raise XmodalError(
                f"xmodal serve needs {exc.name}, not installed", INSTALL_HINT
            ) from None
        from xmodal_cli.filtering import parse_size

        limit = parse_size(thumbnail_cache, "--thumbnail-cache")
        _check_free(host, port)
        if host not in ("127.0.0.1", "localhost", "::1"):
            render.stderr_console().print(
                f"Warning: listening on {host}: anyone who can reach this machine and learns "
                "the token can read your index and the indexed files (plain HTTP, no TLS)",
                style="bold yellow",
            )
        token = gate.new_token()
        app = server.make_app(
            config.index_dir(index_dir),
            token=token,
            port=port,
            model_path=config.model_path(model_path),
            thumbnail_bytes=limit,
        )
        app.state.shelf.warm()  # models and index load now, not on the first query
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        url = f"http://{shown}:{port}/?token={token}"
        sys.stdout.write(url + "\n")
        sys.stdout.flush()
        render.stderr_console().print("serving; Ctrl-C to stop", style="dim")
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        uvicorn.run(app, host=host, port=port, log_level="warning")


def _check_free(host: str, port: int) -> None:
    """Fail with a hint before loading models, not in uvicorn's log after."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise XmodalError(
                f"cannot listen on {host}:{port}: {exc.strerror}",
                f"choose another port: xmodal serve --port {port + 1}",
            ) from None
