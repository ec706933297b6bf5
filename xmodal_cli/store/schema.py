"""The catalog's schema: numbered migrations, run in order by `Catalog` (the only module
that executes them). A schema change adds one entry here and the queries it needs there."""

from __future__ import annotations

SCHEMA_VERSION = 7
DB_NAME = "catalog.db"

# Numbered migrations, as statements: entry N upgrades schema N to N+1, in one transaction.
# Never edit one that has shipped.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE files (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            path TEXT NOT NULL UNIQUE,
            modality TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            hash TEXT NOT NULL,
            indexed_at REAL NOT NULL,
            info TEXT
        )""",
        "CREATE INDEX files_hash ON files(hash)",
        """CREATE TABLE items (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
            space TEXT NOT NULL,
            position INTEGER NOT NULL,
            snippet TEXT,
            vector BLOB NOT NULL
        )""",
        "CREATE INDEX items_file ON items(file_id)",
        "CREATE INDEX items_space ON items(space)",
    ),
    ("UPDATE items SET vector = float32_to_16(vector)",),  # 2: compact vectors
    ("CREATE INDEX files_modality ON files(modality)",),  # 3: filters by type
    ("UPDATE items SET vector = float16_to_int8(vector)",),  # 4: int8 vectors, half again
    # 5: indexed facets for --after/--before, --longer/--shorter, --near, --camera, sizes
    # (store/facets.py). Virtual columns read `info` JSON: nothing to backfill or keep in step,
    # and their indexes hold the values, so a narrow filter reads few rows.
    (
        "ALTER TABLE files ADD COLUMN taken TEXT GENERATED ALWAYS AS "
        "(coalesce(json_extract(info, '$.taken'), json_extract(info, '$.recorded'))) VIRTUAL",
        "ALTER TABLE files ADD COLUMN duration REAL GENERATED ALWAYS AS "
        "(json_extract(info, '$.duration')) VIRTUAL",
        "ALTER TABLE files ADD COLUMN lat REAL GENERATED ALWAYS AS "
        "(json_extract(info, '$.lat')) VIRTUAL",
        "ALTER TABLE files ADD COLUMN lon REAL GENERATED ALWAYS AS "
        "(json_extract(info, '$.lon')) VIRTUAL",
        "ALTER TABLE files ADD COLUMN camera TEXT GENERATED ALWAYS AS "
        "(json_extract(info, '$.camera')) VIRTUAL",
        # (taken, mtime_ns): one index serves "taken in range" and "no date, mtime in range"
        "CREATE INDEX files_when ON files(taken, mtime_ns)",
        "CREATE INDEX files_duration ON files(duration)",
        "CREATE INDEX files_place ON files(lat, lon)",
        "CREATE INDEX files_size ON files(size)",
    ),
    # 6: a folder filter's ids from indexes alone (a 1 % folder at 1M photos: 71 -> 29 ms),
    # never the rows, whose vectors and info make each one a random page read.
    (
        "CREATE INDEX items_file_space ON items(file_id, space)",
        "DROP INDEX items_file",
        "CREATE INDEX files_path_type ON files(path, modality)",
    ),
    # 7: words that must match (store/catalog_lexical.py). `words` holds each file's path and
    # the text people or speech put in it (passages, transcripts, captions, tags), `words_fts`
    # indexes it (FTS5, external content: the text is stored once). Triggers keep both in step
    # with `files` inside the same transaction, whichever code path adds, moves or deletes a
    # file; a deletion flags `words_purge`, and the writer then merges the FTS segments so the
    # removed text leaves the file (SQLite 3.40 has no FTS5 secure-delete). Filled from what
    # the catalog already holds: paths, and the passages and transcripts of text and audio.
    (
        """CREATE TABLE words (
            id INTEGER PRIMARY KEY,
            file_id INTEGER NOT NULL,
            position INTEGER NOT NULL,
            kind TEXT NOT NULL,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX words_file ON words(file_id)",
        "CREATE VIRTUAL TABLE words_fts USING fts5(body, content='words', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')",
        "CREATE TRIGGER words_in AFTER INSERT ON words BEGIN "
        "INSERT INTO words_fts(rowid, body) VALUES (new.id, new.body); END",
        "CREATE TRIGGER words_out AFTER DELETE ON words BEGIN "
        "INSERT INTO words_fts(words_fts, rowid, body) VALUES ('delete', old.id, old.body); "
        "INSERT OR REPLACE INTO meta(key, value) VALUES ('words_purge', '1'); END",
        "CREATE TRIGGER words_change AFTER UPDATE OF body ON words BEGIN "
        "INSERT INTO words_fts(words_fts, rowid, body) VALUES ('delete', old.id, old.body); "
        "INSERT INTO words_fts(rowid, body) VALUES (new.id, new.body); "
        "INSERT OR REPLACE INTO meta(key, value) VALUES ('words_purge', '1'); END",
        "CREATE TRIGGER files_words_in AFTER INSERT ON files BEGIN "
        "INSERT INTO words(file_id, position, kind, body) VALUES (new.id, -1, 'name', new.path); "
        "END",
        "CREATE TRIGGER files_words_move AFTER UPDATE OF path ON files BEGIN "
        "UPDATE words SET body = new.path WHERE file_id = new.id AND kind = 'name'; END",
        "CREATE TRIGGER files_words_out AFTER DELETE ON files BEGIN "
        "DELETE FROM words WHERE file_id = old.id; END",
        "INSERT INTO words(file_id, position, kind, body) SELECT id, -1, 'name', path FROM files",
        "INSERT INTO words(file_id, position, kind, body) "
        "SELECT items.file_id, items.position, 'passage', items.snippet "
        "FROM items JOIN files ON files.id = items.file_id "
        "WHERE items.space = 'text' AND files.modality IN ('text', 'audio') "
        "AND items.position >= 0 AND coalesce(items.snippet, '') != '' ORDER BY items.id",
    ),
]
