"""A full disk in the middle of indexing: clear error, exit 1, the previous index intact."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys

import pytest

from tests.documents import write_notes

pytestmark = pytest.mark.slow


def _limit_file_size(limit: int):
    def apply() -> None:
        # Writes past `limit` bytes fail with EFBIG, as on a full disk (instead of SIGXFSZ).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _xmodal(*args: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xmodal_cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_limit_file_size(limit) if limit else None,
    )


def test_disk_full_while_indexing_keeps_the_previous_index(tmp_path, photo_dir, lite_profile):
    lite_profile.encode_texts(["warm the shared model cache"])
    notes = tmp_path / "notes"
    write_notes(notes)
    directory = tmp_path / "idx"
    assert _xmodal("index", str(notes), "--index-dir", str(directory), "-q").returncode == 0
    query = ("search", "pancakes", "--type", "text", "--json", "--index-dir", str(directory))
    before = json.loads(_xmodal(*query).stdout)

    photos = tmp_path / "photos"
    photos.mkdir()
    for photo in photo_dir.iterdir():
        (photos / photo.name).write_bytes(photo.read_bytes())
    largest = max(p.stat().st_size for p in directory.iterdir() if p.is_file())
    full = _xmodal("index", str(photos), "--index-dir", str(directory), limit=largest + 4096)
    assert full.returncode == 1, full.stderr
    assert full.stderr.startswith("Error: ") and "Hint: " in full.stderr
    assert "Traceback" not in full.stderr
    assert "disk full" in full.stderr

    check = _xmodal("check", "--json", "--index-dir", str(directory))
    assert check.returncode == 0 and json.loads(check.stdout)["ok"]
    assert json.loads(_xmodal(*query).stdout) == before  # the notes answer exactly as before
    again = _xmodal("index", str(photos), "--index-dir", str(directory), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["skipped"] == 0
