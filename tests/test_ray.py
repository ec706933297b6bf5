"""`xmodal index --ray` on a real local Ray cluster that this module starts (2 CPUs, a small
object store, no dashboard) and stops: whole runs through the real CLI, vectors equal to a
local run's, shipped bytes, skips, a killed worker, Ctrl-C and a killed driver, and the
message when Ray is not installed."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray

from tests.conftest import ListReporter, assert_consistent
from tests.sql import sql
from xmodal_cli.collection import open_collection
from xmodal_cli.distributed import RayOptions, connect
from xmodal_cli.indexer import IndexOptions, reason_kind

pytestmark = pytest.mark.slow

XMODAL = [sys.executable, "-m", "xmodal_cli"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local Ray head for this module; its address for `--ray`."""
    ray.init(
        num_cpus=2,
        object_store_memory=80 * 2**20,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
    )
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, photo_dir: Path) -> Path:
    """Real photos, two notes, a short recording, and two files that must be skipped."""
    import soundfile

    folder = tmp_path_factory.mktemp("ray-corpus") / "archive"
    shutil.copytree(photo_dir, folder / "photos")
    notes = folder / "notes"
    notes.mkdir()
    (notes / "tax_receipt_2023.txt").write_text("Receipt for the plumber, paid in March.\n")
    (notes / "trip.md").write_text("# Lisbon\nTrams, custard tarts and a sunset over the river.\n")
    rate = 16_000
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(2 * rate) / rate)
    (folder / "sounds").mkdir()
    soundfile.write(str(folder / "sounds" / "beep.wav"), tone, rate)
    (folder / "photos" / "broken.jpg").write_bytes(b"this is not a jpeg")
    (notes / "empty.txt").write_bytes(b"")
    return folder


def _index(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*XMODAL, "index", *args], capture_output=True, text=True, timeout=600, check=False
    )


def _items(index: Path) -> dict[tuple[str, str, int, str], list[np.ndarray]]:
    """Every stored vector by (file path, space, position, snippet), in the order stored."""
    with open_collection(index, models=False) as col:
        where = {
            row[0]: (row[1], row[2], row[3], row[4])
            for row in sql(
                col.catalog,
                "SELECT items.id, files.path, items.space, items.position, items.snippet "
                "FROM items JOIN files ON files.id = items.file_id",
            )
        }
        out: dict[tuple[str, str, int, str], list[np.ndarray]] = {}
        for space, dim in col.vectors.spaces.items():
            for ids, vectors in col.catalog.iter_vectors(space, dim):
                for item_id, vector in zip(ids.tolist(), vectors, strict=True):
                    out.setdefault(where[item_id], []).append(vector)
        assert sum(map(len, out.values())) == len(where)
        return out


def _skips(stderr: str) -> set[str]:
    # PIL's message names the file descriptor it read from: the one part that may differ
    lines = stderr.splitlines()
    return {re.sub(r"name=\d+", "name=N", line) for line in lines if line.startswith("skipped ")}


@pytest.fixture(scope="module")
def local_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same corpus indexed locally: what a Ray run must equal."""
    index = tmp_path_factory.mktemp("local") / "index"
    done = _index(str(corpus), "--index-dir", str(index), "--json")
    assert done.returncode == 0, done.stderr
    return {"summary": json.loads(done.stdout), "skips": _skips(done.stderr), "index": index}


def _assert_same(
    run: subprocess.CompletedProcess[str], index: Path, local: dict[str, Any], *, exact: bool
) -> Any:
    """Same files, skips and items as the local run; vectors equal within float error when
    `exact` (the same batches), else at cosine ≥ 0.99: the INT8 text encoder quantises its
    activations per batch, so a passage's vector moves a little with its batch-mates (as a
    local run with another --batch-size does)."""
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    for name in ("indexed", "skipped", "items_added", "skip_reasons"):
        assert summary[name] == local["summary"][name], name
    assert _skips(run.stderr) == local["skips"]  # same files, same reasons
    assert set(local["summary"]["skip_reasons"]) == {"not a readable image", "empty file"}
    ours, theirs = _items(index), _items(local["index"])
    assert ours.keys() == theirs.keys()
    for key, vectors in ours.items():  # same items, none doubled, equal vectors
        assert len(vectors) == len(theirs[key]), key
        if exact:
            np.testing.assert_allclose(vectors, theirs[key], atol=2e-3, err_msg=str(key))
        else:
            cosines = np.sum(np.multiply(vectors, theirs[key]), axis=1)
            assert cosines.min() >= 0.99, (key, cosines)
    return summary


def test_ray_run_stores_what_a_local_run_stores(cluster, corpus, local_run, tmp_path):
    index = tmp_path / "index"
    run = _index(str(corpus), "--index-dir", str(index), "--json", "--ray", cluster)
    summary = _assert_same(run, index, local_run, exact=True)  # one batch, as locally
    (worker,) = summary["workers"]  # 2 CPUs: one worker by default
    assert worker["files"] + worker["skipped"] == summary["indexed"] + summary["skipped"]
    assert worker["images_per_s"] > 0 and worker["restarts"] == 0
    assert worker["shipped_bytes"] == 0  # it read the files where they are

    again = _index(str(corpus), "--index-dir", str(index), "--json", "--ray", cluster)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["unchanged"] == summary["indexed"]  # plan as locally


def test_ship_bytes_sends_every_file_and_stores_the_same(cluster, corpus, local_run, tmp_path):
    index = tmp_path / "index"
    run = _index(
        *(str(corpus), "--index-dir", str(index), "--json"),
        *("--ray", cluster, "--ship-bytes", "--ray-workers", "2", "--batch-size", "4"),
    )
    summary = _assert_same(run, index, local_run, exact=False)
    assert len(summary["workers"]) == 2
    sizes = sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file())
    assert sum(w["shipped_bytes"] for w in summary["workers"]) == sizes
    assert all(w["files"] > 0 for w in summary["workers"])  # both took work


def test_a_killed_worker_is_retried_and_nothing_is_lost_or_doubled(
    cluster, corpus, lite_profile, tmp_path
):
    remote = connect(RayOptions(workers=1, batch_size=2))
    killed: list[int] = []

    def kill_once() -> None:
        if not killed:
            killed.append(remote.pids()[0])
            os.kill(killed[0], signal.SIGKILL)  # batches are queued on it right now

    class KillingReporter(ListReporter):
        def advance(self, count: int = 1) -> None:
            super().advance(count)
            if count:
                kill_once()

    reporter = KillingReporter()
    with open_collection(tmp_path / "index", create=True, profile=lite_profile) as col:
        summary = col.index(
            [corpus / "photos"],
            options=IndexOptions(),
            reporter=reporter,
            remote=remote,
        )
        assert_consistent(col)
        paths = [row[0] for row in sql(col.catalog, "SELECT path FROM files")]
        per_file = sql(
            col.catalog, "SELECT COUNT(*) FROM items WHERE space = 'visual' GROUP BY file_id"
        )
        (stored,) = sql(col.catalog, "SELECT COUNT(*) FROM items")[0]
    photos = sorted(str(p) for p in (corpus / "photos").iterdir() if p.name != "broken.jpg")
    assert killed and summary.workers[0]["restarts"] >= 1
    assert sorted(paths) == photos  # every photo exactly once
    assert summary.indexed == len(photos) and reporter.advanced == len(photos) + 1
    assert [n for (n,) in per_file] == [1] * len(photos)  # one image vector each, none twice
    assert summary.items == stored
    assert [reason_kind(r) for _, r in reporter.skips] == ["not a readable image"]


def _committed(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM files").fetchone()[0])
    except sqlite3.Error:
        return 0


def _our_actors(pid: int) -> list[str]:
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]
    return [n for n in names if n.startswith(f"xmodal-encode-{pid}-")]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # as a terminal would (see test_interrupt)


def test_ctrl_c_and_a_killed_driver_keep_what_was_committed(cluster, photo_dir, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for copy in range(4):
        for photo in sorted(photo_dir.iterdir()):
            shutil.copyfile(photo, folder / f"{copy}-{photo.name}")
    total = len(list(folder.iterdir()))
    index = tmp_path / "index"
    cmd = [*XMODAL, "index", str(folder), "--index-dir", str(index), "--ray", cluster]
    counts = []
    for stop in (signal.SIGINT, signal.SIGKILL):
        proc = subprocess.Popen(
            [*cmd, "--batch-size", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_default_sigint,
        )
        before = _committed(index / "catalog.db")
        while _committed(index / "catalog.db") == before and proc.poll() is None:
            time.sleep(0.05)
        assert _our_actors(proc.pid)  # its workers are running
        proc.send_signal(stop)
        _, err = proc.communicate(timeout=120)
        counts.append(_committed(index / "catalog.db"))
        if stop == signal.SIGINT:
            assert proc.returncode == 130, err
            assert "interrupted" in err.lower()
        deadline = time.monotonic() + 60  # Ctrl-C killed them; a dead owner takes them along
        while _our_actors(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _our_actors(proc.pid)  # no cluster work outlives the run
    assert 0 < counts[0] <= counts[1] < total

    done = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["unchanged"] == counts[1] and summary["indexed"] == total - counts[1]
    with open_collection(index, models=False) as col:
        assert col.status()["files"] == total
        assert col.check().ok


def test_without_ray_installed_the_option_says_how_to_get_it(corpus, tmp_path):
    index = tmp_path / "index"
    hide = (
        "import sys; sys.modules['ray'] = None; sys.argv[0] = 'xmodal'; "
        "from xmodal_cli.cli import main; main()"
    )
    args = ["index", str(corpus), "--ray", "auto", "--index-dir", str(index)]
    done = subprocess.run(
        [sys.executable, "-c", hide, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "Error: --ray needs Ray, which is not installed",
        "Hint: pip install 'xmodal[ray]'",
    ]
    assert not index.exists()  # nothing was created


def test_ray_only_options_need_ray(corpus, tmp_path):
    done = _index(str(corpus), "--index-dir", str(tmp_path / "i"), "--ship-bytes")
    assert done.returncode == 2 and "--ship-bytes needs --ray" in done.stderr
