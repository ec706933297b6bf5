"""The catalog's lexical index: words that must match, in SQLite FTS5 (schema 7).

Each file has rows in `words`: its path (kept by triggers on `files`, so adding, moving and
deleting a file changes them in the same transaction whatever code path does it), and the
text that people or speech put in it: passages, transcripts, captions, tags (added by the
indexer beside the file's items). `words_fts` indexes them.

A deleted row leaves its terms in older FTS segments until they are merged, and SQLite 3.40
has no FTS5 secure-delete: so every deletion flags `words_purge`, and `purge()` rewrites the
FTS index into one segment ('optimize'); with `secure_delete` on, the freed pages are
zeroed, so a removed file's words leave the database file (the WAL goes at the writer's
checkpoint).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

# Words that say nothing on their own: dropped from the lexical query, so a sentence asked
# in plain words still needs all of its content words to match, and none of its glue.
STOPWORDS = frozenset(
    """a about an and are as at be but by for from had has have he her his how i in into is it
    its me my of on or our she so that the their them there these they this those to was we
    were what when where which who whom why will with you your""".split()  # noqa: SIM905 (57 words, one a line, read worse)
)
_TOKEN = re.compile(r"[^\W_]+")  # what unicode61 keeps: letters and digits, runs of them


@dataclass(frozen=True)
class WordHit:
    """One matching row of `words`, with its file."""

    file_id: int
    path: str
    modality: str
    kind: str  # name, passage or caption
    position: int
    body: str


def terms_of(text: str) -> list[str]:
    """The query's content words, lower-cased and distinct, as FTS5 will see them."""
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(text.casefold()):
        if token not in STOPWORDS:
            seen.setdefault(token, None)
    return list(seen)


class Words:
    """The `words` rows of one catalog connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def add(self, file_id: int, entries: list[tuple[str, int, str]]) -> None:
        """Inside the transaction that adds the file: its (kind, position, body) rows."""
        self._conn.executemany(
            "INSERT INTO words(file_id, position, kind, body) VALUES (?, ?, ?, ?)",
            [(file_id, position, kind, body) for kind, position, body in entries if body.strip()],
        )

    def search(self, terms: list[str], most: int) -> list[WordHit]:
        """Rows holding every one of `terms`; none when more than `most` rows do (a word
        that common singles nothing out). Unranked: bm25 would count every row of each
        term, 0.2 s for a word in a million rows; the first `most` + 1 stop early."""
        if not terms:
            return []
        match = " AND ".join('"' + t.replace('"', '""') + '"' for t in terms)
        found = self._conn.execute(
            "SELECT rowid FROM words_fts WHERE words_fts MATCH ? LIMIT ?", (match, most + 1)
        ).fetchall()
        if not found or len(found) > most:
            return []
        marks = ",".join("?" * len(found))
        rows = self._conn.execute(
            "SELECT words.file_id, files.path, files.modality, words.kind, words.position, "
            "words.body FROM words JOIN files ON files.id = words.file_id "
            f"WHERE words.id IN ({marks}) ORDER BY words.id",
            [r[0] for r in found],
        ).fetchall()
        return [WordHit(*row) for row in rows]

    def documents(self) -> int:
        """How many rows the FTS index holds."""
        return int(self._conn.execute("SELECT COUNT(*) FROM words").fetchone()[0])

    def purge_pending(self) -> bool:
        row = self._conn.execute("SELECT 1 FROM meta WHERE key = 'words_purge'").fetchone()
        return row is not None

    def purge(self) -> None:
        """Inside a transaction: merge the FTS index so deleted rows' terms leave it."""
        self._conn.execute("INSERT INTO words_fts(words_fts) VALUES ('optimize')")
        self._conn.execute("DELETE FROM meta WHERE key = 'words_purge'")

    def items_of(self, file_id: int, space: str) -> tuple[list[int], list[int]]:
        """Ids and positions of a file's items in `space` (to score a file found by words)."""
        rows = self._conn.execute(
            "SELECT id, position FROM items WHERE file_id = ? AND space = ? ORDER BY id",
            (file_id, space),
        ).fetchall()
        return [r[0] for r in rows], [r[1] for r in rows]
