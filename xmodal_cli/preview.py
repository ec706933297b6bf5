"""`--preview`: a thumbnail beside each photo (and video, its frame at the moment found), a
loudness sparkline beside each recording.

Thumbnails are drawn by `textual-image` through rich with Kitty's graphics protocol or
Sixel where the terminal answers that it can (Kitty, WezTerm, iTerm2, foot, mlterm…), and
as coloured half blocks (HalfBlocks, here) elsewhere. Nothing is cached: a thumbnail is
made from its photo when shown (ten photos, a few milliseconds each with JPEG draft
decoding), so there is no derived file to keep bounded, crash-safe or deleted with its
source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from xmodal_cli.search import Result

THUMB_CELLS = 16  # columns; half blocks give twice as many pixel rows as text rows
THUMB_PIXELS = 128
BARS = " ▁▂▃▄▅▆▇█"
SPARK_CELLS = 32
LISTEN_SECONDS = 600.0  # the sparkline of a longer recording shows its first 10 minutes
QUIET_DB = -60.0  # below this, silence whatever the recording's loudest moment
DYNAMIC_DB = 40.0


def results_with_previews(rows: list[Result], console: Console, *, renderer: Any = None) -> None:
    """Each result on its own lines: its preview, then rank, score, path and snippet.

    `renderer` makes a renderable of (image, width=, height=); by default textual-image's
    for a terminal that answers that it draws images, else HalfBlocks."""
    if not rows:
        return
    renderer = renderer or graphics_renderer() or HalfBlocks
    for row in rows:
        try:
            console.print(_row(row, renderer))
        except Exception:  # a terminal that misreports its size: draw it with half blocks
            if renderer is HalfBlocks:
                raise
            renderer = HalfBlocks
            console.print(_row(row, renderer))


def _row(row: Result, renderer: Any) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(width=THUMB_CELLS if row.type in ("image", "video") else SPARK_CELLS + 2)
    grid.add_column(overflow="fold")  # a path is what people act on: never cut
    heading = Text.assemble(
        (f"{row.rank:>2} ", "dim"), f"{row.score:.3f} ", (row.type, "dim"), " ", (row.path, "cyan")
    )
    grid.add_row(_preview(row, renderer), Text("\n").join([heading, Text(row.snippet)]))
    return grid


def graphics_renderer() -> Any:
    """textual-image's Kitty-protocol or Sixel renderable, if the terminal answers that it
    draws images (asked once, on import); None otherwise. Its own half-cell fallback asks
    the terminal for its pixel size, which fails in some (zero-sized ptys): ours does not."""
    try:
        from textual_image import renderable
    except Exception:  # not installed, or a terminal that answers nonsense
        return None
    chosen = renderable.Image
    return chosen if chosen in (renderable.TGPImage, renderable.SixelImage) else None


class HalfBlocks:
    """An image as rows of "▀": foreground the upper pixel, background the lower one."""

    def __init__(self, image: Any, *, width: int, height: int) -> None:
        import numpy as np

        self.width = width
        self.pixels = np.asarray(image.convert("RGB").resize((width, 2 * height)))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for top, bottom in zip(self.pixels[0::2], self.pixels[1::2], strict=True):
            for upper, lower in zip(top.tolist(), bottom.tolist(), strict=True):
                style = Style(color=Color.from_rgb(*upper), bgcolor=Color.from_rgb(*lower))
                yield Segment("▀", style)
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)


def _preview(row: Result, renderer: Any) -> RenderableType:
    if row.type == "image":
        return thumbnail(row.path, renderer) or Text("(unreadable)", style="dim")
    if row.type == "video":  # the frame at the moment found
        return video_frame(row.path, max(row.position, 0), renderer) or Text("(unreadable)")
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
    # A text cell is about twice as tall as it is wide: rows for the photo's aspect ratio.
    rows = max(1, round(THUMB_CELLS * small.height / small.width / 2))
    drawn: RenderableType = renderer(small, width=THUMB_CELLS, height=rows)
    return drawn


def video_frame(path: str, seconds: float, renderer: Any) -> RenderableType | None:
    """The picture at `seconds` of a video (from its keyframe before), like `thumbnail`."""
    from xmodal_cli.media.video import frame_at

    small = frame_at(path, seconds, THUMB_PIXELS)
    if small is None:
        return None
    rows = max(1, round(THUMB_CELLS * small.height / small.width / 2))
    drawn: RenderableType = renderer(small, width=THUMB_CELLS, height=rows)
    return drawn


def sparkline(path: str, cells: int = SPARK_CELLS) -> str:
    """Loudness over time in `cells` bars: RMS in dB, from DYNAMIC_DB below the loudest
    moment (a quiet memo still shows its shape) up to it; silence stays blank."""
    import numpy as np

    from xmodal_cli.media import DecodeError
    from xmodal_cli.media.audio import read_blocks

    parts = []
    try:
        _, blocks = read_blocks(path, block_seconds=10.0, rate=8_000)
        for block in blocks:
            if block.start >= LISTEN_SECONDS:
                break
            parts.append(block.samples.astype(np.float32))
    except DecodeError:
        return "(unreadable)"
    samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if len(samples) < cells:
        return ""
    power = [float(np.mean(np.square(s, dtype=np.float64))) for s in np.array_split(samples, cells)]
    db = 10 * np.log10(np.maximum(power, 1e-12))
    top = max(float(db.max()), QUIET_DB + DYNAMIC_DB)
    steps = np.clip((db - (top - DYNAMIC_DB)) / DYNAMIC_DB, 0.0, 1.0)
    return "".join(BARS[round(float(step) * (len(BARS) - 1))] for step in steps)


def _length(duration: object) -> str:
    if not isinstance(duration, (int, float)):
        return ""
    from xmodal_cli.search import clock

    return clock(round(duration))
