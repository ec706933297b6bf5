"""Ctrl-C in a real `xmodal index` process: exit 130, committed work kept, next run finishes."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _default_sigint() -> None:
    """A child started from a background job inherits SIGINT ignored, and Python then never
    raises KeyboardInterrupt: give it the default, as a terminal would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _committed_files(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM files").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_sigint_mid_index_keeps_committed_batches(tmp_path, photo_dir, lite_profile):
    lite_profile.encode_texts(["warm the shared model cache"])  # ONNX export happens once
    corpus = tmp_path / "photos"
    corpus.mkdir()
    for copy in range(12):
        for photo in sorted(photo_dir.iterdir()):
            shutil.copyfile(photo, corpus / f"{copy:02d}-{photo.name}")
    total = len(list(corpus.iterdir()))
    index = tmp_path / "index"
    cmd = [sys.executable, "-m", "xmodal_cli", "index", str(corpus), "--index-dir", str(index)]
    proc = subprocess.Popen(
        [*cmd, "--batch-size", "8"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    deadline = time.monotonic() + 120
    while _committed_files(index / "catalog.db") == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err.lower() and out == ""
    committed = _committed_files(index / "catalog.db")
    assert 0 < committed < total
    assert not [p for p in index.iterdir() if p.name.startswith(".")]  # no temp files left

    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["unchanged"] == committed and summary["indexed"] == total - committed

    check = subprocess.run(
        [sys.executable, "-m", "xmodal_cli", "status", "--json", "--index-dir", str(index)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    status = json.loads(check.stdout)
    assert status["files"] == total and status["vectors"]["visual"] == total


def test_sigint_during_long_recordings_stops_within_a_block(tmp_path, lite_profile):
    """Two 5-minute talks are being transcribed when Ctrl-C comes: the workers give up
    between 60-second blocks instead of finishing both recordings."""
    import numpy as np
    import soundfile

    from bench import sample_sounds as sounds

    lite_profile.encode_texts(["warm the shared model cache"])
    folder = tmp_path / "talks"
    for name, (sentence, _) in sounds.SPOKEN.items():
        clip, rate = soundfile.read(str(sounds.speak(sentence, tmp_path / f"{name}.wav")))
        talk = np.tile(np.concatenate([clip, np.zeros(rate // 2)]), 60)[: rate * 300]
        sounds.write(folder / f"talk_{name}.wav", talk, rate)
    index = tmp_path / "index"
    cmd = [sys.executable, "-m", "xmodal_cli", "index", str(folder), "--index-dir", str(index)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint
    )
    time.sleep(12)  # models loaded, both workers inside a recording
    interrupted = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    waited = time.monotonic() - interrupted
    assert proc.returncode == 130, err
    assert waited < 30, f"Ctrl-C took {waited:.1f} s to stop"  # a whole talk takes minutes
    assert not [p for p in index.iterdir() if p.name.startswith(".")]
    check = subprocess.run(
        [sys.executable, "-m", "xmodal_cli", "check", "--index-dir", str(index)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
