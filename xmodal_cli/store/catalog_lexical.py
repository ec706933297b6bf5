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

`xmodal check` verifies it (audit.py): FTS5's own integrity check against the `words`
table, a name row for every file, a passage row for every item whose text was indexed
(PASSAGE_ITEMS), and no row without its file; `check --repair` restores the rows and
rebuilds the FTS index from them.
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
# The text-space items whose snippet the indexer also writes as a `passage` row (lexical.py's
# words_of): passages of notes and documents, transcript lines, words read in a photo (at
# 1, 2, …; 0 is the classifier's caption, -1 a description or the people seen). A video's
# frames and its transcript share positions, so its rows are not checked one by one.
PASSAGE_ITEMS = (
    "items.space = :space AND coalesce(items.snippet, '') != '' AND ("
    "(files.modality IN ('text', 'audio') AND items.position >= 0) "
    "OR (files.modality = 'image' AND items.position > 0))"
)
_NO_PASSAGE_ROW = (
    "NOT EXISTS (SELECT 1 FROM words WHERE words.file_id = items.file_id "
    "AND words.kind = 'passage' AND words.position = items.position "
    "AND words.body = items.snippet)"
)
_NO_NAME_ROW = (
    "NOT EXISTS (SELECT 1 FROM words WHERE words.file_id = files.id "
    "AND words.kind = 'name' AND words.body = files.path)"
)
_NO_FILE = "NOT EXISTS (SELECT 1 FROM files WHERE files.id = words.file_id)"


@dataclass(frozen=True)
class WordsAudit:
    """What `check` found wrong with the lexical index (all zero/None when it is sound)."""

    fts_error: str | None  # FTS5's integrity check against the `words` table
    fts_unchecked: str | None  # why that check could not run (the database was locked)
    files_without_name: list[str]  # paths
    items_without_row: int
    item_examples: list[str]  # paths of files with such items
    orphan_rows: int  # rows whose file is gone


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

    def audit(self, text_space: str, listed: int) -> WordsAudit:
        """Read-only: is the lexical index whole and true to the catalog? (`listed`: how
        many example paths to name)"""
        fts_error, unchecked = None, None
        # FTS5 takes its check as an INSERT that changes nothing; a reader's connection lets
        # this one statement through (it may wait for a running `index` to commit).
        reader = bool(self._conn.execute("PRAGMA query_only").fetchone()[0])
        self._conn.execute("PRAGMA query_only=OFF")
        try:  # rank 1: also compare the index with the `words` table it was built from
            self._conn.execute(
                "INSERT INTO words_fts(words_fts, rank) VALUES ('integrity-check', 1)"
            )
        except sqlite3.OperationalError as exc:  # locked, or a read-only file system
            unchecked = str(exc)
        except sqlite3.DatabaseError as exc:  # SQLITE_CORRUPT_VTAB: "malformed"
            fts_error = str(exc)
        finally:
            if reader:
                self._conn.execute("PRAGMA query_only=ON")
        nameless = self._conn.execute(
            f"SELECT path FROM files WHERE {_NO_NAME_ROW} ORDER BY path"
        ).fetchall()
        missing = self._conn.execute(
            "SELECT files.path FROM items JOIN files ON files.id = items.file_id "
            f"WHERE {PASSAGE_ITEMS} AND {_NO_PASSAGE_ROW}",
            {"space": text_space},
        ).fetchall()
        orphans = self._conn.execute(f"SELECT COUNT(*) FROM words WHERE {_NO_FILE}").fetchone()
        return WordsAudit(
            fts_error,
            unchecked,
            [row[0] for row in nameless],
            len(missing),
            sorted({row[0] for row in missing})[:listed],
            int(orphans[0]),
        )

    def restore(self, text_space: str) -> int:
        """Inside a transaction: rebuild the FTS index from `words`, then drop orphan rows and
        put back missing ones (the triggers keep the index in step); how many rows changed."""
        # First: a damaged index could fail the triggers' 'delete' of a row it lacks.
        self._conn.execute("INSERT INTO words_fts(words_fts) VALUES ('rebuild')")
        dropped = self._conn.execute(f"DELETE FROM words WHERE {_NO_FILE}").rowcount
        # A name row with a stale path is replaced, not kept beside the right one.
        dropped += self._conn.execute(
            "DELETE FROM words WHERE kind = 'name' AND body != "
            "(SELECT path FROM files WHERE files.id = words.file_id)"
        ).rowcount
        added = self._conn.execute(
            "INSERT INTO words(file_id, position, kind, body) "
            f"SELECT files.id, -1, 'name', files.path FROM files WHERE {_NO_NAME_ROW}"
        ).rowcount
        added += self._conn.execute(
            "INSERT INTO words(file_id, position, kind, body) "
            "SELECT items.file_id, items.position, 'passage', items.snippet "
            f"FROM items JOIN files ON files.id = items.file_id "
            f"WHERE {PASSAGE_ITEMS} AND {_NO_PASSAGE_ROW} ORDER BY items.id",
            {"space": text_space},
        ).rowcount
        return dropped + added

    def replace_passages(self, text_space: str) -> None:
        """Inside the transaction that switches an upgrade's items in: every passage row
        again from the new items (an upgrade may read words the old models did not)."""
        self._conn.execute("DELETE FROM words WHERE kind = 'passage'")
        self._conn.execute(
            "INSERT INTO words(file_id, position, kind, body) "
            "SELECT items.file_id, items.position, 'passage', items.snippet "
            f"FROM items JOIN files ON files.id = items.file_id WHERE {PASSAGE_ITEMS} "
            "ORDER BY items.id",
            {"space": text_space},
        )

    def items_of(self, file_id: int, space: str) -> tuple[list[int], list[int]]:
        """Ids and positions of a file's items in `space` (to score a file found by words)."""
        rows = self._conn.execute(
            "SELECT id, position FROM items WHERE file_id = ? AND space = ? ORDER BY id",
            (file_id, space),
        ).fetchall()
        return [r[0] for r in rows], [r[1] for r in rows]
