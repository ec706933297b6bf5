"""In-place upgrades: an index built by other model ids is re-encoded by the next writer,
resumably, while readers keep answering from the old vectors until the switch commits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ListReporter, RecordingProfile, _seeded_unit, assert_consistent
from tests.documents import NOTES
from tests.sql import sql
from xmodal_cli import adapter
from xmodal_cli.collection import open_collection
from xmodal_cli.errors import XmodalError
from xmodal_cli.indexer import IndexOptions
from xmodal_cli.models import SPACE_ACOUSTIC, SPACE_TEXT, SPACE_VISUAL
from xmodal_cli.store import codec
from xmodal_cli.store.rows import STAGED
from xmodal_cli.store.vector_index import sidecar
from xmodal_cli.upgrade import record_of


class NextProfile(RecordingProfile):
    """The fake profile as a later release encodes it: other model ids, other vectors."""

    def __init__(self, fail_on_call: int | None = None, *, text_dim: int = 16) -> None:
        super().__init__(fail_on_call)
        self.spaces = {**self.spaces, SPACE_TEXT: text_dim}
        self.model_ids = {**self.model_ids, SPACE_TEXT: "fake-text-2"}

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        self._tick()
        self.texts.extend(texts)
        dim = self.spaces[SPACE_TEXT]
        return np.stack([_seeded_unit(b"v2" + t.encode(), dim) for t in texts])


def _notes(root: Path, count: int = 12) -> list[Path]:
    root.mkdir()
    paths = []
    for i in range(count):
        path = root / f"note{i:02d}.txt"
        path.write_text(f"note number {i}: " + list(NOTES.values())[i % len(NOTES)])
        paths.append(path)
    return paths


def _stored_text_blobs(directory: Path) -> dict[tuple[str, int], bytes]:
    """Text-space vector BLOBs by (path, position)."""
    rows = sql(
        directory,
        "SELECT files.path, items.position, items.vector FROM items "
        "JOIN files ON files.id = items.file_id WHERE items.space = ?",
        SPACE_TEXT,
    )
    return {(path, at): blob for path, at, blob in rows}


def test_an_interrupted_upgrade_is_searchable_throughout_and_resumes(tmp_path: Path) -> None:
    directory, root = tmp_path / "index", tmp_path / "notes"
    _notes(root)
    old = RecordingProfile()
    with open_collection(directory, create=True, profile=old) as col:
        col.index([root], options=IndexOptions(batch_size=2, workers=1))
    query = list(NOTES.values())[3]
    with open_collection(directory, profile=RecordingProfile()) as reader:
        before = [(hit.path, round(hit.score, 4)) for hit in reader.search(query, limit=5)]
    old_blobs = _stored_text_blobs(directory)

    # Killed (Ctrl-C) at its third model call: two batches of staged passages committed.
    first = NextProfile(fail_on_call=3)
    done = 8  # two batches of 4 passages (one per note)
    with (
        open_collection(directory, write=True, profile=first) as col,
        pytest.raises(KeyboardInterrupt),
    ):
        col.index([root], options=IndexOptions(batch_size=1, workers=1))
    assert len(first.texts) == done

    with open_collection(directory, profile=RecordingProfile()) as reader:
        status = reader.status()
        assert status["upgrade"] == {
            "to": "fake",
            "models": first.model_ids,
            "files_done": done,
        }
        assert status["models"] == old.model_ids  # the switch has not happened
        after = [(hit.path, round(hit.score, 4)) for hit in reader.search(query, limit=5)]
    assert after == before  # readers answer from the old vectors, unchanged
    assert _stored_text_blobs(directory) == old_blobs
    staged = sql(directory, "SELECT COUNT(*) FROM items WHERE space = ?", STAGED + SPACE_TEXT)
    assert staged == [(done,)]

    second = NextProfile()
    with open_collection(directory, write=True, profile=second) as col:
        summary = col.index([root], options=IndexOptions(batch_size=4, workers=1))
        assert summary.upgraded == 12 - done and summary.unchanged == 12 and summary.indexed == 0
        assert_consistent(col)
        assert col.status()["upgrade"] is None
        assert col.check().ok
    assert not set(first.texts) & set(second.texts)  # nothing committed was encoded again
    assert len(first.texts) + len(second.texts) == 12
    assert json.loads(sql(directory, "SELECT value FROM meta WHERE key='profile'")[0][0]) == (
        record_of(second)
    )
    expected = NextProfile().encode_texts(first.texts + second.texts)
    dim = second.spaces[SPACE_TEXT]
    for key, blob in _stored_text_blobs(directory).items():
        vector, old_vector = codec.matrix([blob, old_blobs[key]], dim)
        assert np.abs(expected @ vector).max() > 0.99, key  # the new model's vector
        assert float(vector @ old_vector) < 0.9, key
    assert sql(directory, "SELECT COUNT(*) FROM items WHERE space LIKE 'next:%'") == [(0,)]
    with open_collection(directory, profile=NextProfile()) as reader:
        passage = second.texts[0]  # the fake encodes a passage's own words to its vector
        top = reader.search(passage, limit=1)[0]
        assert Path(top.path).stem == passage.split(":")[0] and top.score > 0.99


def test_a_switch_to_other_spaces_drops_their_files_and_unreadable_files(tmp_path: Path) -> None:
    directory, root = tmp_path / "index", tmp_path / "notes"
    notes = _notes(root, count=5)
    with open_collection(directory, create=True, profile=RecordingProfile()) as col:
        col.index([root])
    assert (directory / f"{SPACE_VISUAL}.faiss").exists()
    notes[0].unlink()  # gone before the upgrade reads it: forgotten at the switch
    identity = adapter.QueryMap(np.zeros((1, 16), np.float32), np.zeros((16, 1), np.float32), "")
    adapter.save(adapter.Adapter({(SPACE_TEXT, "text"): identity}), directory)
    wider = NextProfile(text_dim=24)
    del wider.spaces[SPACE_VISUAL], wider.model_ids[SPACE_VISUAL]
    with open_collection(directory, write=True, profile=wider) as col:
        reporter = ListReporter()
        summary = col.index([root / "note01.txt"], options=IndexOptions(), reporter=reporter)
        assert summary.upgraded == 4 and summary.skipped == 1 and summary.removed == 1
        assert [Path(p).name for p, _ in reporter.skips] == ["note00.txt"]
        assert col.vectors.spaces == {SPACE_TEXT: 24, SPACE_ACOUSTIC: wider.spaces[SPACE_ACOUSTIC]}
        assert col.vectors.index(SPACE_TEXT).ntotal == 4
        assert col.check().ok
    for stale in (directory / f"{SPACE_VISUAL}.faiss", sidecar(directory / "visual.faiss")):
        assert not stale.exists()
    assert not adapter.path_in(directory).exists()  # trained on the old query encoder


def test_readers_of_older_model_ids_search_or_are_told_how_to_upgrade(tmp_path: Path) -> None:
    directory, root = tmp_path / "index", tmp_path / "notes"
    _notes(root, count=6)
    with open_collection(directory, create=True, profile=RecordingProfile()) as col:
        col.index([root])
    # Same spaces, newer ids: a reader searches the old vectors and writes nothing.
    with open_collection(directory, profile=NextProfile()) as reader:
        assert len(reader.search("note", limit=6)) == 6
        assert reader.status()["upgrade"] is None
    # Other dimensions: the old vectors cannot answer a query of the new model.
    with pytest.raises(XmodalError) as refused:
        open_collection(directory, profile=NextProfile(text_dim=24))
    assert "xmodal index" in (refused.value.hint or "")
    # A writer that goes back to the recorded models drops a pending upgrade's staged items.
    with (
        open_collection(directory, write=True, profile=NextProfile(fail_on_call=2)) as col,
        pytest.raises(KeyboardInterrupt),
    ):
        col.index([root], options=IndexOptions(batch_size=1, workers=1))
    assert sql(directory, "SELECT COUNT(*) FROM items WHERE space LIKE 'next:%'") == [(4,)]
    with open_collection(directory, write=True, profile=RecordingProfile()) as col:
        assert col.status()["upgrade"] is None
    assert sql(directory, "SELECT COUNT(*) FROM items WHERE space LIKE 'next:%'") == [(0,)]


@pytest.mark.slow
def test_the_real_cli_upgrades_an_older_lite_index_through_a_sigkill(tmp_path, photo_dir):
    """An index whose recorded ids are a former release's is upgraded by `xmodal index`,
    killed once mid-way (SIGKILL), searchable throughout, and finished by the next run."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    for copy in range(3):
        for photo in sorted(photo_dir.iterdir()):
            (corpus / f"{copy}-{photo.name}").write_bytes(photo.read_bytes())
    for name, text in NOTES.items():
        (corpus / name).write_text(text)
    env = {**os.environ, "XMODAL_HOME": str(index_dir)}

    def xmodal(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "xmodal_cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )

    assert xmodal("index", str(corpus), "--quiet").returncode == 0
    current = json.loads(sql(index_dir, "SELECT value FROM meta WHERE key='profile'")[0][0])
    older = {**current, "models": {**current["models"], SPACE_TEXT: "former-release-text"}}
    sql(index_dir, "UPDATE meta SET value = ? WHERE key = 'profile'", json.dumps(older))
    files = sql(index_dir, "SELECT COUNT(*) FROM files")[0][0]

    run = subprocess.Popen(
        [sys.executable, "-m", "xmodal_cli", "index", str(corpus), "--batch-size", "2", "-q"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not sql(index_dir, "SELECT value FROM meta WHERE key = 'upgrade_progress'"):
        assert run.poll() is None and time.monotonic() < deadline, "upgrade never committed"
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()

    status = json.loads(xmodal("status", "--json").stdout)
    assert status["upgrade"]["to"] == "lite" and 0 < status["upgrade"]["files_done"] < files
    assert status["models"] == older["models"]
    found = json.loads(xmodal("search", "a cup of coffee", "--json", "-n", "3").stdout)
    assert len(found) == 3  # answered from the old vectors while the upgrade is pending

    finished = xmodal("index", str(corpus), "--json")
    assert finished.returncode == 0, finished.stderr
    summary = json.loads(finished.stdout)
    assert 0 < summary["upgraded"] < files and summary["indexed"] == 0
    assert json.loads(xmodal("status", "--json").stdout)["models"] == current["models"]
    check = xmodal("check", "--json")
    assert check.returncode == 0, check.stdout
    hits = json.loads(xmodal("search", "a cup of coffee", "--json", "-n", "1").stdout)
    assert "coffee" in hits[0]["path"]


@pytest.mark.slow
def test_a_float_lite_index_keeps_its_variant_unless_the_profile_is_named(tmp_path: Path) -> None:
    """INT8 is this CPU's default for new indexes; an existing float index is not re-encoded
    for it unless `--model lite` asks for the profile as this machine runs it."""
    from xmodal_cli.models.lite import LiteProfile

    directory, root = tmp_path / "index", tmp_path / "notes"
    _notes(root, count=2)
    with open_collection(directory, create=True, profile=LiteProfile("cpu", "float")) as col:
        col.index([root])
    with open_collection(directory, write=True) as col:
        assert col.profile is not None and col.profile.variant == "float"
        assert col.status()["upgrade"] is None
    with open_collection(directory) as reader:  # queries are encoded like the stored vectors
        assert reader.profile is not None and reader.profile.variant == "float"
    with open_collection(directory, write=True, model="lite") as col:
        assert col.profile is not None and col.profile.variant == "int8"
        pending = col.status()["upgrade"]
        assert pending["to"] == "lite" and pending["models"][SPACE_TEXT].endswith("@int8")
        summary = col.index([root])
        assert summary.upgraded == 2 and col.status()["models"][SPACE_TEXT].endswith("@int8")
