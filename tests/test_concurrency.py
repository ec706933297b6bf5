"""Searching during a long index run works; a second indexer on the same index is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pytest

from tests.documents import NOTES

pytestmark = pytest.mark.slow


def test_search_during_indexing_and_a_second_writer(tmp_path, photo_dir, lite_profile):
    lite_profile.encode_texts(["warm the shared model cache"])
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for copy in range(10):
        for photo in sorted(photo_dir.iterdir()):
            shutil.copyfile(photo, corpus / f"{copy}-{photo.name}")
        for name, text in NOTES.items():
            (corpus / f"{copy}-{name}").write_text(text)
    index = tmp_path / "index"
    base = [sys.executable, "-m", "xmodal_cli"]
    writer = subprocess.Popen(
        [*base, "index", str(corpus), "--index-dir", str(index), "--batch-size", "4", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while not (index / "catalog.db").exists():
            time.sleep(0.1)
        time.sleep(1.0)
        second = subprocess.run(
            [*base, "index", str(corpus), "--index-dir", str(index)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 1
        assert f"another indexing run is active on this index (pid {writer.pid})" in second.stderr

        seen: list[int] = []
        while writer.poll() is None and len(seen) < 8:
            found = subprocess.run(
                [*base, "search", "a cup of coffee", "--json", "--index-dir", str(index)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert found.returncode == 0, found.stderr
            seen.append(len(json.loads(found.stdout)))
        assert seen, "the index run ended before any search could overlap it"
    finally:
        out, err = writer.communicate(timeout=600)
    assert writer.returncode == 0, err
    assert json.loads(out)["indexed"] == len(list(corpus.iterdir()))
