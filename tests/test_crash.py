"""SIGKILL `xmodal index` at random moments: the index stays consistent and searchable, and
the next run finishes the job without encoding again what was committed.

XMODAL_KILL_POINTS sets how many kills (default 10) and XMODAL_KILL_COPIES the corpus size
(copies of the sample photos and notes, default 8); the closing-note figures used more.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.documents import NOTES

pytestmark = pytest.mark.slow


# The text space switches to an approximate (IVF) index part-way through the run, so kills
# land before, during and after its first training and checkpoints.
_ENV = {**os.environ, "XMODAL_APPROXIMATE_FROM": "120"}


def _xmodal(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xmodal_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_ENV,
    )


def _committed(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM files").fetchone()[0])
        except sqlite3.OperationalError:  # killed before the first migration committed
            return 0


def _clip(tmp_path: Path, photo_dir: Path) -> Path:
    """A 40-second slideshow of four sample photos with a spoken line."""
    from bench.sample_videos import Line, Slide, make_video

    photos = sorted(photo_dir.iterdir())[:4]
    slides = [Slide(10 * n, 10, photo) for n, photo in enumerate(photos)]
    line = [Line(12, "the kill test keeps its videos")]
    return make_video(tmp_path / "clip.mp4", slides, line, fps=5)


def test_random_sigkills_never_corrupt_the_index(tmp_path, photo_dir, lite_profile):
    lite_profile.encode_texts(["warm the shared model cache"])
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    clip = _clip(tmp_path, photo_dir)
    for copy in range(int(os.environ.get("XMODAL_KILL_COPIES", "8"))):
        for photo in sorted(photo_dir.iterdir()):
            shutil.copyfile(photo, corpus / f"{copy}-{photo.name}")
        if copy < 3:  # a few videos: their frames are encoded in the decode threads
            shutil.copyfile(clip, corpus / f"{copy}-clip.mp4")
        for name, text in NOTES.items():
            (corpus / f"{copy}-{name}").write_text(f"{text} (copy {copy})")
    total = len(list(corpus.iterdir()))
    index = tmp_path / "index"
    args = ["index", str(corpus), "--index-dir", str(index), "--batch-size", "4", "-q"]
    rng = random.Random(20261122)
    kills = int(os.environ.get("XMODAL_KILL_POINTS", "10"))
    survived = 0
    for _ in range(kills):
        before = _committed(index / "catalog.db")
        if before == total:
            break
        proc = subprocess.Popen([sys.executable, "-m", "xmodal_cli", *args], env=_ENV)
        time.sleep(rng.uniform(0.3, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if not (index / "catalog.db").exists():
            continue  # killed before the catalog existed: nothing to check yet
        check = _xmodal("check", "--json", "--index-dir", str(index))
        report = json.loads(check.stdout)
        assert check.returncode == 0 and report["ok"], report
        search = _xmodal("search", "a cup of coffee", "--json", "--index-dir", str(index))
        assert search.returncode == 0, search.stderr
        assert _committed(index / "catalog.db") >= before  # committed work never goes away
        survived += 1

    committed = _committed(index / "catalog.db")
    final = _xmodal(*args[:-1], "--json")
    assert final.returncode == 0, final.stderr
    summary = json.loads(final.stdout)
    assert summary["unchanged"] == committed and summary["indexed"] == total - committed
    report = json.loads(_xmodal("check", "--json", "--index-dir", str(index)).stdout)
    assert report["ok"] and report["notes"] == [] and report["checked"]["files"] == total
    assert not [p for p in index.iterdir() if p.name.startswith(".")]
    status = json.loads(_xmodal("status", "--json", "--index-dir", str(index)).stdout)
    assert status["indexes"]["text"]["index"] == "ivf"  # the new file survived the kills too
    print(f"survived {survived} SIGKILLs", file=sys.stderr)
