"""`--preview`: thumbnails of real photos and loudness lines of real sounds, rendered into a
captured rich console with the half-block renderer (what terminals without graphics get)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
from rich.console import Console
from typer.testing import CliRunner

from bench import sample_sounds as sounds
from xmodal_cli.cli import app
from xmodal_cli.preview import BARS, HalfBlocks, results_with_previews, sparkline
from xmodal_cli.search import Result


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, color_system="truecolor", width=200), out


def test_a_photo_gets_a_thumbnail_in_its_own_colours(photo_dir: Path) -> None:
    console, out = _console()
    rows = [
        Result(1, 0.42, "image", str(photo_dir / "coffee.png"), "a cup of coffee", "visual", 0),
        Result(2, 0.31, "image", str(photo_dir / "missing.png"), "gone since", "visual", 0),
    ]
    results_with_previews(rows, console, renderer=HalfBlocks)
    text = out.getvalue()
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert plain.count("▀") == 16 * 5  # 16 columns; 600×400 px: 5 rows of half blocks
    assert "coffee.png" in plain and "a cup of coffee" in plain and "0.420" in plain
    assert "(unreadable)" in plain  # the missing photo: no picture, the row still shown
    colours = set(re.findall(r"38;2;(\d+);(\d+);(\d+)", text))
    assert len(colours) > 20  # a picture, not one flat colour


def test_a_recording_gets_a_loudness_line_and_its_length(tmp_path: Path) -> None:
    quiet_then_loud = np.concatenate([np.zeros(4 * 44_100), sounds.music(4.0) * 0.9])
    path = sounds.write(tmp_path / "memo.wav", quiet_then_loud)
    line = sparkline(str(path))
    assert len(line) == 32
    assert set(line[:14]) == {" "}  # silence
    assert min(BARS.index(bar) for bar in line[18:]) >= 3  # music at -20 dB or louder
    console, out = _console()
    row = Result(1, 0.5, "audio", str(path), "0:04 music", "acoustic", 4, {"duration": 8.0})
    results_with_previews([row], console, renderer=HalfBlocks)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    assert line.strip() in plain and "0:08" in plain and "memo.wav" in plain


def test_preview_is_off_when_stdout_is_not_a_terminal(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["search", "x", "--preview", "--paths", "--index-dir", str(tmp_path / "none")]
    )
    assert result.exit_code == 1 and "no index" in result.output  # option accepted
    from xmodal_cli.cli_filters import show_results

    rows = [Result(1, 0.5, "image", "/p/cat.jpg", "cat", "visual", 0)]
    printed = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(printed):
        show_results(rows, "table", null=False, preview=True)
    assert "▀" not in printed.getvalue() and "cat.jpg" in printed.getvalue()
