"""What the lexical index costs at scale: size, the schema-7 migration, the purge after a
deletion, and a query, on a catalog of N files with a passage each (real words: sentences
drawn from Python's own reference text, so terms have a natural spread).

The purge merges the whole FTS index into one segment ('optimize'), so its cost grows with
the index: this says how much, per deletion run (one per `xmodal index` or `remove` that
deleted anything, not per file).

    python -m bench.lexical_cost [--files 100000]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.harness import emit, machine, note
from tests.sql import UNDO_SCHEMA_7, sql
from xmodal_cli.store.catalog import Catalog
from xmodal_cli.store.rows import NewItem
from xmodal_cli.store.schema import DB_NAME


def sentences() -> list[str]:
    from pydoc_data.topics import topics

    text = " ".join(topics.values()).split(". ")
    return [s.strip().replace("\n", " ") for s in text if 40 < len(s) < 400]


def build(directory: Path, files: int) -> Catalog:
    """N files, each with one passage item (its words indexed) and a 4-d vector."""
    rng = random.Random(7)
    said = sentences()
    catalog = Catalog.open(directory, create=True, writable=True)
    vector = np.ones(4, np.float32) / 2
    for start in range(0, files, 5000):
        with catalog.transaction():
            for n in range(start, min(start + 5000, files)):
                path = f"/home/me/notes/{n // 1000:03d}/note_{n:07d}.txt"
                file_id = catalog.add_file(path, "text", 100, n, f"h{n}", {})
                body = " ".join(rng.sample(said, 2)) + f" ref-{n:07d}"
                catalog.add_items(file_id, [NewItem("text", 0, body, vector)])
                catalog.words.add(file_id, [("passage", 0, body)])
    return catalog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        catalog = build(directory, args.files)
        build_s = time.perf_counter() - started
        catalog.close(checkpoint=True)
        with_words = (directory / DB_NAME).stat().st_size
        words_pages = sql(directory, "SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'words%'")
        note(f"built {args.files} files in {build_s:.0f}s")

        for statement in UNDO_SCHEMA_7:  # back to schema 6, then the migration fills it again
            sql(directory, statement)
        sql(directory, "PRAGMA user_version = 6")
        sql(directory, "VACUUM")
        without = (directory / DB_NAME).stat().st_size
        started = time.perf_counter()
        Catalog.open(directory, writable=True).close(checkpoint=True)
        migrate_s = time.perf_counter() - started

        catalog = Catalog.open(directory, writable=True)
        queries = []
        for n in range(0, args.files, max(1, args.files // 50)):
            started = time.perf_counter()
            found = catalog.words.search(["ref", f"{n:07d}"], 200)
            queries.append(time.perf_counter() - started)
            assert found and found[0].path.endswith(f"note_{n:07d}.txt")
        common = time.perf_counter()
        catalog.words.search(["ref"], 5000)  # in every row
        common_s = time.perf_counter() - common
        with catalog.transaction():
            catalog.delete_files([1])
        started = time.perf_counter()
        with catalog.transaction():
            catalog.words.purge()
        purge_s = time.perf_counter() - started
        catalog.close(checkpoint=True)
    emit(
        {
            "files": args.files,
            "db_bytes_without_words": without,
            "db_bytes_with_words": with_words,
            "words_tables_bytes": words_pages[0][0],
            "migration_seconds": round(migrate_s, 2),
            "purge_seconds_after_a_deletion": round(purge_s, 2),
            "exact_query_ms_median": round(1000 * float(np.median(queries)), 2),
            "common_word_query_ms": round(1000 * common_s, 2),
            **machine(load),
        }
    )


if __name__ == "__main__":
    main()
