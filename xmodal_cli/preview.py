"""`--preview`: a thumbnail beside each photo, a loudness sparkline beside each recording.

Thumbnails are drawn by `textual-image` through rich: Kitty's graphics protocol or Sixel
where the terminal answers that it can (Kitty, WezTerm, iTerm2, foot, mlterm…), coloured
half blocks elsewhere. Nothing is cached: a thumbnail is made from its photo when shown
(ten photos, a few milliseconds each with JPEG draft decoding), so there is no derived file
to keep bounded, crash-safe or deleted with its source.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from xmodal_cli.search import Result

THUMB_CELLS = 16  # columns; half blocks give twice as many pixel rows as text rows
THUMB_PIXELS = 128
BARS = " ▁▂▃▄▅▆▇█"
SPARK_CELLS = 32
LISTEN_SECONDS = 600.0  # the sparkline of a longer recording shows its first 10 minutes
QUIET_DB = -60.0


def results_with_previews(rows: list[Result], console: Console, *, renderer: Any = None) -> None:
    """Each result on its own lines: its preview, then rank, score, path and snippet.

    `renderer` is a textual-image class (tests pass the half-block one); by default the best
    one the terminal supports, detected once when first needed."""
    if not rows:
        return
    if renderer is None:
        from textual_image.renderable import Image as renderer  # queries the terminal
    for row in rows:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(width=THUMB_CELLS if row.type == "image" else SPARK_CELLS + 2)
        grid.add_column()
        heading = Text.assemble(
            (f"{row.rank:>2} ", "dim"),
            f"{row.score:.3f} ",
            (row.type, "dim"),
            " ",
            (row.path, "cyan"),
        )
        grid.add_row(_preview(row, renderer), Text("\n").join([heading, Text(row.snippet)]))
        console.print(grid)


def _preview(row: Result, renderer: Any) -> RenderableType:
    if row.type == "image":
        return thumbnail(row.path, renderer) or Text("(unreadable)", style="dim")
    if row.type == "audio":
        return Text(sparkline(row.path) + "\n" + _length(row.info.get("duration")), style="green")
    return Text("")


def thumbnail(path: str, renderer: Any) -> RenderableType | None:
    """The photo, turned upright and shrunk, as a renderable THUMB_CELLS wide; None if it
    cannot be read (a photo that changed or went since it was indexed)."""
    from PIL import Image, ImageOps

    from xmodal_cli.media import open_regular

    try:
        with open_regular(path) as handle, Image.open(handle) as im:
            im.draft("RGB", (THUMB_PIXELS, THUMB_PIXELS))
            small = ImageOps.exif_transpose(im).convert("RGB")
            small.thumbnail((THUMB_PIXELS, THUMB_PIXELS))
    except Exception:  # any unreadable image: no picture, the row is still shown
        return None
    return renderer(small, width=THUMB_CELLS)  # type: ignore[no-any-return]


def sparkline(path: str, cells: int = SPARK_CELLS) -> str:
    """Loudness over time in `cells` bars (RMS in dB, from QUIET_DB to full scale)."""
    from xmodal_cli.media import DecodeError
    from xmodal_cli.media.audio import read_blocks

    levels: list[float] = []
    try:
        _, blocks = read_blocks(path, block_seconds=1.0, rate=8_000)
        for block in blocks:
            if block.start >= LISTEN_SECONDS:
                break
            samples = block.samples.astype("float64")
            levels += [float((s * s).mean()) for s in _split(samples, 10) if len(s)]
    except DecodeError:
        return "(unreadable)"
    if not levels:
        return ""
    per_cell = [
        levels[i * len(levels) // cells : (i + 1) * len(levels) // cells] for i in range(cells)
    ]
    bars = []
    for chunk in per_cell:
        if not chunk:
            continue
        db = 10 * math.log10(max(sum(chunk) / len(chunk), 1e-12))
        step = (min(max(db, QUIET_DB), 0.0) - QUIET_DB) / -QUIET_DB
        bars.append(BARS[round(step * (len(BARS) - 1))])
    return "".join(bars)


def _split(samples: Any, parts: int) -> list[Any]:
    size = max(1, math.ceil(len(samples) / parts))
    return [samples[i : i + size] for i in range(0, len(samples), size)]


def _length(duration: object) -> str:
    if not isinstance(duration, (int, float)):
        return ""
    from xmodal_cli.search import clock

    return clock(round(duration))
