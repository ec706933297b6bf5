"""What `xmodal check` spends on the lexical index, and `check --repair` on rebuilding it.

    python -m bench.lexical_check [--files 100000] [--passages 4]

A real catalog (the current schema, made by `Catalog`) is filled as an index of notes would
be: each file a name row (the schema's trigger) and --passages text-space items whose
snippets are also `passage` rows of `words` (80 words of a Debian licence each). Then, on
the real `Words` methods (store/catalog_lexical.py):
- audit_s: the read-only audit `check` runs (FTS5 integrity check against `words`, the
  name and passage rows, orphans), on the sound index;
- restore_s: `check --repair`'s rebuild, after deleting about 1 % of the rows (passages);
- found: how many missing rows the audit counted before the repair (must be `deleted`).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from bench.harness import emit, machine, note


def fill(path: Path, files: int, passages: int, text: list[str]) -> None:
    """Files, their text-space items and passage rows, in one transaction (as the indexer
    writes them: the `words` triggers keep FTS5 in step)."""
    rng = random.Random(0)
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("BEGIN")
        for number in range(files):
            file_id = conn.execute(
                "INSERT INTO files(path, modality, size, mtime_ns, hash, indexed_at) "
                "VALUES (?, 'text', 1, 1, ?, 0)",
                (f"/notes/{number // 1000}/note_{number}.md", f"h{number}"),
            ).lastrowid
            for position in range(passages):
                snippet = " ".join(rng.choices(text, k=80))
                conn.execute(
                    "INSERT INTO items(file_id, space, position, snippet, vector) "
                    "VALUES (?, 'text', ?, ?, x'00')",
                    (file_id, position, snippet),
                )
                conn.execute(
                    "INSERT INTO words(file_id, position, kind, body) VALUES (?, ?, 'passage', ?)",
                    (file_id, position, snippet),
                )
        conn.execute("COMMIT")
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--passages", type=int, default=4)
    parser.add_argument("--text", default="/usr/share/common-licenses/GPL-3")
    args = parser.parse_args()
    load = os.getloadavg()[0]

    from xmodal_cli.store.catalog import Catalog

    text = Path(args.text).read_text("utf-8").split()
    with tempfile.TemporaryDirectory() as work:
        directory = Path(work)
        Catalog.open(directory, create=True).close()
        note(f"filling {args.files} files × {args.passages} passages")
        fill(directory / "catalog.db", args.files, args.passages, text)
        catalog = Catalog.open(directory)
        start = time.perf_counter()
        sound = catalog.words.audit("text", 10)
        audit_s = time.perf_counter() - start
        catalog.close()
        conn = sqlite3.connect(str(directory / "catalog.db"), isolation_level=None)
        damaged = conn.execute("DELETE FROM words WHERE kind = 'passage' AND id % 100 = 0")
        deleted = damaged.rowcount
        conn.close()
        catalog = Catalog.open(directory, writable=True)
        found = catalog.words.audit("text", 10)
        start = time.perf_counter()
        with catalog.transaction():
            changed = catalog.words.restore("text")
        restore_s = time.perf_counter() - start
        after = catalog.words.audit("text", 10)
        size = (directory / "catalog.db").stat().st_size
        catalog.close()
    emit(
        {
            "files": args.files,
            "rows": args.files * (args.passages + 1),
            "audit_s": round(audit_s, 2),
            "sound": sound.fts_error is None and not sound.items_without_row,
            "found": found.items_without_row,
            "deleted": deleted,
            "restore_s": round(restore_s, 2),
            "restored": changed,
            "sound_after": after.fts_error is None and not after.items_without_row,
            "db_mb": round(size / 2**20),
            **machine(load),
        }
    )


if __name__ == "__main__":
    main()
