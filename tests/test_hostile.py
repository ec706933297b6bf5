"""Hostile and odd input in whole runs: files that change while read, long names, no
permission, huge sparse files, binaries posing as text, FIFOs and devices, empty and truncated
files. Each is indexed or skipped with a reason, never crashes or blocks a run, and never
leaves the catalog and the vector files disagreeing."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import ListReporter, RecordingProfile, assert_consistent, run_index
from xmodal_cli.collection import open_collection
from xmodal_cli.indexer import IndexSummary
from xmodal_cli.media import DecodeError
from xmodal_cli.media.image import decode_image
from xmodal_cli.media.text import MAX_CHUNKS, chunk_text, read_text

REPO = Path(__file__).resolve().parents[1]


T = TypeVar("T")


def _index_new(
    index: Path, tree: Path, reporter: ListReporter | None = None, **options: Any
) -> IndexSummary:
    """Index `tree` into a new collection at `index`, in batches of 4."""
    profile = RecordingProfile()
    with open_collection(index, create=True, write=True, profile=profile) as col:
        summary = run_index(col, profile, tree, reporter=reporter, batch_size=4, **options)
        assert_consistent(col)  # whatever the input, SQLite and FAISS agree afterwards
    return summary


def _in_thread(work: Callable[[], T], seconds: float, unblock: Callable[[], None]) -> T:
    """Run `work`; if it is still busy after `seconds`, call `unblock` and fail."""
    values: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            values.append(work())
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        unblock()
        worker.join(10)
        pytest.fail(f"the run was still blocked after {seconds} s")
    if errors:
        raise errors[0]
    return values[0]


def _release_fifos(*fifos: Path) -> Callable[[], None]:
    def release() -> None:
        for fifo in fifos:
            with contextlib.suppress(OSError):  # a writer's open+close gives a reader EOF
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    return release


def _in_subprocess(code: str, timeout: float = 120) -> dict[str, Any]:
    """Run `code` in a fresh interpreter (clean ru_maxrss); it prints one JSON line."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- files that change while a run reads them ----------------------------------------------


# -- names and paths -----------------------------------------------------------------------


# -- permissions ---------------------------------------------------------------------------


# -- size --------------------------------------------------------------------------------------


MEASURE_RUN = """
    import json, resource, sys, time
    from pathlib import Path
    from tests.conftest import RecordingProfile
    from xmodal_cli.collection import open_collection
    from xmodal_cli.indexer import IndexSummary, index_paths

    def run(index, tree):
        profile = RecordingProfile()
        with open_collection(Path(index), create=True, write=True, profile=profile) as col:
            return index_paths([Path(tree)], vectors=col.vectors, profile=profile)

    run(sys.argv[1] + "/warm-idx", sys.argv[1] + "/warm")  # lazy imports, SQLite, FAISS
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    summary = run(sys.argv[1] + "/idx", sys.argv[1] + "/tree")
    print(json.dumps({
        "seconds": time.perf_counter() - started,
        "rss_growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024,
        "summary": summary.as_dict(),
    }))
"""


def test_eight_mebibytes_of_one_letter_words_chunk_in_bounded_memory(tmp_path):
    path = tmp_path / "letters.txt"
    path.write_bytes(b"a " * (4 * 1024**2))  # 4M words: listing all matches took 540 MB
    tracemalloc.start()
    try:
        started = time.perf_counter()
        chunks = chunk_text(read_text(str(path)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(chunks) == MAX_CHUNKS
    assert peak < 100 * 1024**2
    assert time.perf_counter() - started < 10


def _solid_png(path: Path, width: int, height: int) -> None:
    """A one-colour RGB PNG written row by row: ~190 KB on disk, never whole in memory."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    packer = zlib.compressobj(9)
    row = b"\x00" + b"\xc8\x1e\x1e" * width
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def test_a_small_file_that_decodes_to_64_megapixels_costs_one_decoded_copy(tmp_path):
    # 8000×8000 RGB is 256 MB decoded (PIL keeps 4 bytes a pixel) from a ~190 KB file.
    # Copies for the EXIF rotation and the RGB conversion used to triple that.
    big = tmp_path / "big.png"
    _solid_png(big, 8000, 8000)
    result = _in_subprocess(
        f"""
        import json, resource
        from xmodal_cli.media.image import decode_image
        import PIL.Image, PIL.ImageOps, PIL.PngImagePlugin
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        pixels = decode_image({str(big)!r}).pixels
        growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print(json.dumps({{"growth_mb": growth, "corner": pixels[0, 0].tolist()}}))
        """
    )
    assert result["corner"] == [200, 30, 30]
    assert result["growth_mb"] < 256 * 1.5


# -- not what the name says ----------------------------------------------------------------


def test_an_image_name_on_another_format_is_not_decoded(tmp_path):
    # PIL sniffs content: an EPS named .jpg would go to Ghostscript where it is installed.
    eps = tmp_path / "invoice.jpg"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(DecodeError, match="not a readable image"):
        decode_image(str(eps))


# -- FIFOs, devices, sockets ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["pipe.txt", "pipe.jpg"])
def test_decoders_refuse_a_fifo_without_blocking(tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    decode = read_text if name.endswith(".txt") else decode_image

    def attempt() -> str:
        with pytest.raises(DecodeError) as error:
            decode(str(fifo))
        return str(error.value)

    assert _in_thread(attempt, 5, _release_fifos(fifo)) == "not a regular file"


def test_a_file_swapped_for_a_fifo_after_the_scan_does_not_block_the_run(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "note.txt").write_text("a normal note")
    swapped = tree / "swapped.txt"
    swapped.write_text("about to become a pipe")

    def swap() -> None:
        swapped.unlink()
        os.mkfifo(swapped)

    reporter = ListReporter(on_start=swap)
    summary = _in_thread(
        lambda: _index_new(tmp_path / "idx", tree, reporter), 3, _release_fifos(swapped)
    )
    assert summary.indexed == 1
    assert reporter.reasons() == {"swapped.txt": "not a regular file"}


# -- empty and truncated -------------------------------------------------------------------


# -- process state -------------------------------------------------------------------------


def test_a_threaded_run_leaves_the_warning_filters_as_they_were(tmp_path, photo_dir):
    # catch_warnings() in decode threads swapped the process-wide filter list under each
    # other and left `ignore` for every warning behind.
    tree = tmp_path / "tree"
    shutil.copytree(photo_dir, tree)
    decode_image(str(tree / "coffee.png"))  # adds the one narrow PIL filter, once
    before = list(warnings.filters)
    for _ in range(3):
        _index_new(tmp_path / "idx", tree, workers=2)
        shutil.rmtree(tmp_path / "idx")
    assert warnings.filters == before
