"""Cold `xmodal search` on a large index: N text items with random unit vectors.

The vectors come from a fast fake profile that claims to be `lite` (same spaces and model
ids), so the real CLI opens the index; only the index size matters for this figure.

    python -m bench.large_index --items 300000
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from bench.harness import (
    cache_dir,
    cli_env,
    emit,
    machine,
    note,
    run_timed,
    summarise,
    xmodal_command,
)
from bench.reindex_unchanged import FastFakeLite


def build(directory: Path, items: int, cache: Path) -> None:
    """Write `items` one-passage text files straight into a catalog, then save FAISS."""
    from xmodal_cli.collection import open_collection
    from xmodal_cli.store.rows import NewItem

    profile = FastFakeLite(cache)
    rng = np.random.default_rng(1)
    with (
        open_collection(directory, create=True, write=True, profile=profile) as col,
        col.vectors.writing(),
    ):
        for start in range(0, items, 10_000):
            count = min(10_000, items - start)
            vectors = rng.standard_normal((count, 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            with col.vectors.transaction() as tx:
                for i in range(count):
                    n = start + i
                    file_id = tx.add_file(f"/bench/notes/{n}.txt", "text", 1, 1, f"h{n}", {})
                    tx.add_items(file_id, [NewItem("text", 0, f"passage {n}", vectors[i])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cache", default=None)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    cache = cache_dir(args.cache)
    work = Path(tempfile.mkdtemp(prefix="xmodal-large-"))
    try:
        note(f"building {args.items} items")
        build(work / "index", args.items, cache)
        env = cli_env(cache)
        command = [*xmodal_command(), "search", "a cat", "--type", "text", "--json"]
        command += ["--index-dir", str(work / "index")]
        run_timed(command, env)  # first run computes nothing new but warms the page cache
        walls = [run_timed(command, env)[0] for _ in range(args.runs)]
        faiss_mb = (work / "index" / "text.faiss").stat().st_size / 2**20
        emit(
            {
                "bench": "large_index",
                **machine(load),
                "items": args.items,
                "text_faiss_mib": round(faiss_mb, 1),
                "cold_search_s": summarise(walls),
                "command": 'xmodal search "a cat" --type text --json --index-dir DIR',
            }
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
