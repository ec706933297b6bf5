"""Odd and hostile input in whole runs: changing files, long names, no permission, huge
sparse files, device files. Each must be skipped with a reason or indexed, never crash."""

from __future__ import annotations

import json
import os
import resource
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ListReporter, RecordingProfile, run_index
from tests.sql import sql
from xmodal_cli.collection import open_collection
from xmodal_cli.indexer import IndexSummary
from xmodal_cli.media import DecodeError
from xmodal_cli.media.text import MAX_CHUNKS, chunk_text, read_text


def _index(
    directory: Path, tree: Path, reporter: ListReporter | None = None
) -> tuple[IndexSummary, RecordingProfile, dict[str, str]]:
    """Index `tree` into a new collection; also return each file's stored snippets."""
    profile = RecordingProfile()
    with open_collection(directory, create=True, write=True, profile=profile) as col:
        summary = run_index(col, profile, tree, reporter=reporter, batch_size=4)
        snippets = {
            path: snippet
            for path, snippet in sql(
                col.catalog,
                "SELECT files.path, items.snippet FROM items "
                "JOIN files ON files.id = items.file_id",
            )
        }
    return summary, profile, snippets


def test_file_rewritten_between_scan_and_read_is_caught_up_next_run(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    note = tree / "draft.txt"
    note.write_text("first version of the draft")
    reporter = ListReporter()

    def rewrite() -> None:
        note.write_text("second, much longer version of the draft, saved while indexing")
        os.utime(note, ns=(1, time.time_ns() + 10**9))

    reporter.on_start = rewrite
    summary, _, snippets = _index(tmp_path / "idx", tree, reporter)
    assert summary.indexed == 1
    assert "second" in snippets[str(note)]  # what was read is what is stored
    again, profile, snippets = _index(tmp_path / "idx", tree)
    assert again.indexed == 1  # the stored stat was older than the content: encoded again
    third, profile, _ = _index(tmp_path / "idx", tree)
    assert third.unchanged == 1 and profile.calls == 0


def test_long_names_and_deep_paths(tmp_path):
    tree = tmp_path / "tree"
    deep = tree.joinpath(*[f"level{i:02d}" for i in range(40)])
    deep.mkdir(parents=True)
    long_name = "n" * (255 - len(".txt")) + ".txt"
    (deep / long_name).write_text("a note at the bottom of a very deep folder")
    (tree / long_name).write_text("a note with a very long name")
    summary, _, snippets = _index(tmp_path / "idx", tree)
    assert summary.indexed == 2 and summary.skipped == 0
    assert str(deep / long_name) in snippets


def test_sparse_two_gigabyte_text_file_is_bounded(tmp_path):
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as handle:
        handle.write(b"real words at the start of a huge log file\n" * 1000)
        handle.truncate(2 * 1024**3)  # sparse: 2 GB on paper, no disk used
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(DecodeError, match="binary"):
        read_text(str(huge))  # the zero-filled tail is NUL bytes: not text
    assert time.perf_counter() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB


def test_big_real_text_is_read_up_to_the_cap_and_chunked_within_bounds(tmp_path):
    big = tmp_path / "novel.txt"
    paragraph = "It was a dark and stormy night; the rain fell in torrents. " * 50 + "\n"
    with open(big, "w") as handle:
        for _ in range(6000):  # ~18 MB
            handle.write(paragraph)
    text = read_text(str(big))
    assert len(text.encode()) <= 8 * 1024 * 1024
    assert len(chunk_text(text)) == MAX_CHUNKS


def test_device_and_socket_files_are_never_opened(tmp_path):
    import socket

    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "note.txt").write_text("a normal note")
    os.mknod(tree / "dev.txt", 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # like /dev/null
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tree / "sock.md"))
    try:
        reporter = ListReporter()
        summary, _, _ = _index(tmp_path / "idx", tree, reporter)
    finally:
        server.close()
    assert summary.indexed == 1 and summary.skipped == 2
    assert {r for _, r in reporter.skips} == {"not a regular file"}


def test_binary_files_with_text_names_are_skipped(tmp_path, photo_dir):
    tree = tmp_path / "tree"
    tree.mkdir()
    shutil.copyfile(sys.executable, tree / "notes.txt")
    shutil.copyfile(photo_dir / "coffee.png", tree / "coffee.md")
    reporter = ListReporter()
    summary, _, _ = _index(tmp_path / "idx", tree, reporter)
    assert summary.skipped == 2 and summary.indexed == 0
    assert {r for _, r in reporter.skips} == {"looks like a binary file"}


LOCKED = {  # what is locked in the tree below, and the reason its skip gives
    "secret.txt": "permission denied",
    "cat.png": "permission denied",
    "locked": "cannot read folder: Permission denied",
}


def _tree_with_locked_entries(base: Path, photo_dir: Path) -> Path:
    tree = base / "tree"
    (tree / "locked").mkdir(parents=True)
    (tree / "ok.txt").write_text("a readable note")
    (tree / "secret.txt").write_text("cannot read me")
    (tree / "locked" / "inside.txt").write_text("behind a locked folder")
    shutil.copyfile(photo_dir / "chelsea.png", tree / "cat.png")
    return tree


def _lock(tree: Path) -> None:
    for name in LOCKED:
        os.chmod(tree / name, 0o000)


def _index_as_this_user(base: Path, tree: Path) -> tuple[int, list[tuple[str, str]]]:
    """As a user, chmod 000 is enough: the file's owner cannot read it either."""
    _lock(tree)
    reporter = ListReporter()
    summary, _, _ = _index(base / "idx", tree, reporter)
    return summary.indexed, reporter.skips


def _index_as_nobody(base: Path, tree: Path) -> tuple[int, list[tuple[str, str]]]:
    """Root reads anything, so the run happens in a child that becomes `nobody`."""
    for path in [base, *base.rglob("*")]:
        os.chown(path, 65534, 65534)
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    _lock(tree)
    # A forked child (no exec: the interpreter under /root is closed to `nobody`).
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        status = 1
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            reporter = ListReporter()
            summary, _, _ = _index(base / "idx", tree, reporter)
            payload = {"indexed": summary.indexed, "skips": sorted(reporter.skips)}
            os.write(write_end, json.dumps(payload).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        output = pipe.read()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    result = json.loads(output)
    return result["indexed"], [(path, reason) for path, reason in result["skips"]]


@pytest.mark.parametrize(
    "index_unprivileged",
    [
        pytest.param(
            _index_as_this_user,
            id="user-chmod",
            marks=pytest.mark.skipif(
                os.geteuid() == 0, reason="root reads anything: the root variant runs instead"
            ),
        ),
        pytest.param(
            _index_as_nobody,
            id="root-drops-privileges",
            marks=pytest.mark.skipif(
                os.geteuid() != 0, reason="only root can drop privileges: the user variant runs"
            ),
        ),
    ],
)
def test_unreadable_files_and_folders_are_skipped_with_a_reason(
    photo_dir: Path,
    index_unprivileged: Callable[[Path, Path], tuple[int, list[tuple[str, str]]]],
) -> None:
    # Outside tmp_path: pytest's base folder under /tmp is closed to `nobody`.
    base = Path(tempfile.mkdtemp(prefix="xmodal-perm-"))
    try:
        tree = _tree_with_locked_entries(base, photo_dir)
        indexed, skips = index_unprivileged(base, tree)
        reasons = {Path(p).name: r for p, r in skips}
        assert indexed == 1
        assert reasons == LOCKED
    finally:
        for path in [base, *base.rglob("*")]:
            os.chmod(path, 0o700)
        shutil.rmtree(base)
