"""Index folders: plan (planner.py) → decode in threads (decoder.py) → encode → store.

Each batch is committed to SQLite in one transaction together with a generation bump, so an
interrupted run loses at most the batch in flight; the vector store mirrors every commit
and saves its FAISS files at the end of the run (and on Ctrl-C when they match the
catalog); see store/vectors.py for that protocol.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Generator, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from xmodal_cli.decoder import Decoded, DecoderBug, decoded_stream
from xmodal_cli.lexical import words_of
from xmodal_cli.media import DecodeError
from xmodal_cli.models import Profile
from xmodal_cli.planner import Plan, ScanOptions, check_roots, plan_run
from xmodal_cli.scan import FileRecord, is_under
from xmodal_cli.store.rows import FileRow, NewItem
from xmodal_cli.store.vectors import VectorStore

# A batch is encoded and committed when any of these is reached: a model batch of images,
# a few model batches of passages, a few recordings (each took seconds to analyse, so Ctrl-C
# should lose little), or many small files (a commit per file would dominate).
PASSAGE_BATCHES = 4
RECORDINGS_PER_COMMIT = 8
FILES_PER_COMMIT = 256


class Reporter(Protocol):
    """Progress and notices; the CLI draws them with rich, tests record them."""

    def start(self, total: int) -> None: ...
    def advance(self, count: int = 1) -> None: ...
    def skip(self, path: str, reason: str) -> None: ...
    def finish(self) -> None: ...


class SilentReporter:
    """Reports nothing (used with --quiet and by library callers)."""

    def start(self, total: int) -> None:
        pass

    def advance(self, count: int = 1) -> None:
        pass

    def skip(self, path: str, reason: str) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass(frozen=True)
class IndexOptions(ScanOptions):
    """Knobs for one indexing run: which files (ScanOptions), batch size and threads."""

    batch_size: int = 32
    workers: int = 2


@dataclass
class IndexSummary:
    """What one run did; printed as the final line or as --json."""

    indexed: int = 0
    unchanged: int = 0
    moved: int = 0
    removed: int = 0
    upgraded: int = 0  # known files re-encoded by an in-place upgrade (upgrade.py)
    skipped: int = 0
    items: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    skip_reasons: Counter[str] = field(default_factory=Counter)
    workers: list[dict[str, Any]] = field(default_factory=list)  # per remote worker (--ray)

    def as_dict(self) -> dict[str, Any]:
        return {
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "moved": self.moved,
            "removed": self.removed,
            "upgraded": self.upgraded,
            "skipped": self.skipped,
            "items_added": self.items,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "skip_reasons": dict(self.skip_reasons),
            **({"workers": self.workers} if self.workers else {}),
        }

    def note_skip(self, reason: str) -> None:
        self.skipped += 1
        self.skip_reasons[reason_kind(reason)] += 1


@dataclass
class Encoded(Decoded):
    """A file decoded and encoded elsewhere (distributed.py): `encoded` holds all of its
    items, `passages` stay for what is committed beside them (words), pixels are dropped."""


# What a remote encoder hands back per batch: each file, Encoded, or the DecodeError that
# skips it.
Outcomes = list[tuple[FileRecord, "Decoded | DecodeError"]]


class RemoteEncoder(Protocol):
    """Decodes and encodes files elsewhere (distributed.py); this process plans and stays
    the only writer, committing each batch as it comes back."""

    def encoded(
        self, records: list[FileRecord], profile: Profile, options: IndexOptions
    ) -> Generator[Outcomes, None, None]: ...
    def workers(self) -> list[dict[str, Any]]: ...


def index_paths(
    roots: Iterable[Path],
    *,
    vectors: VectorStore,
    profile: Profile,
    options: IndexOptions | None = None,
    reporter: Reporter | None = None,
    summary: IndexSummary | None = None,
    remote: RemoteEncoder | None = None,
) -> IndexSummary:
    """Bring the index in line with `roots`: encode what is new or changed (here, or by
    `remote`), prune the rest (adding to `summary` if given)."""
    options = options or IndexOptions()
    reporter = reporter or SilentReporter()
    started = time.perf_counter()
    summary = summary or IndexSummary()

    def on_skip(path: str, reason: str) -> None:
        summary.note_skip(reason)
        reporter.skip(path, reason)

    plan = plan_run(check_roots(roots), vectors.catalog, options, on_skip)
    summary.unchanged = plan.unchanged
    try:
        with vectors.writing():
            if plan.moves or plan.deletions:
                with vectors.transaction() as tx:
                    for row, record in plan.moves:
                        tx.move_file(row.id, record.path, record.size, record.mtime_ns)
                    tx.delete_files(row.id for row in plan.deletions)
                summary.moved = plan.renamed
                summary.removed = len(plan.deletions)
            reporter.start(len(plan.to_encode))
            if remote is None:
                _encode_and_store(plan, vectors, profile, options, reporter, summary)
            else:
                _store_remote(plan, vectors, profile, options, reporter, summary, remote)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        reporter.finish()
        summary.seconds += time.perf_counter() - started
    return summary


@dataclass
class Batch:
    """Decoded files waiting to be encoded and committed together."""

    files: list[Decoded] = field(default_factory=list)
    gone: list[FileRow] = field(default_factory=list)  # changed files that can no longer be read
    images: int = 0
    passages: int = 0
    recordings: int = 0

    def add(self, decoded: Decoded) -> None:
        self.files.append(decoded)
        self.images += decoded.pixels is not None
        self.passages += len(decoded.passages)
        self.recordings += decoded.record.modality in ("audio", "video")

    def full(self, batch_size: int) -> bool:
        return (
            self.images >= batch_size
            or self.passages >= batch_size * PASSAGE_BATCHES
            or self.recordings >= RECORDINGS_PER_COMMIT
            or len(self.files) >= FILES_PER_COMMIT
        )


def _encode_and_store(
    plan: Plan,
    vectors: VectorStore,
    profile: Profile,
    options: IndexOptions,
    reporter: Reporter,
    summary: IndexSummary,
) -> None:
    batch = Batch()
    window = max(options.batch_size * 2, options.workers * 4)
    # closing(): on Ctrl-C the stream must stop its workers now, not when the traceback dies.
    with closing(
        decoded_stream(plan.to_encode, profile, workers=options.workers, window=window)
    ) as stream:
        for record, outcome in stream:
            if isinstance(outcome, DecodeError):
                _skip(record, outcome, plan, batch, summary, reporter)
                continue
            batch.add(outcome)
            if batch.full(options.batch_size):
                _store_batch(batch, plan, vectors, profile, summary)
                reporter.advance(len(batch.files))
                batch = Batch()
    if batch.files or batch.gone:
        _store_batch(batch, plan, vectors, profile, summary)
        reporter.advance(len(batch.files))


def _store_remote(
    plan: Plan,
    vectors: VectorStore,
    profile: Profile,
    options: IndexOptions,
    reporter: Reporter,
    summary: IndexSummary,
    remote: RemoteEncoder,
) -> None:
    """Commit the batches `remote` encoded, in the order they come back; a batch lost with
    its worker is never committed here, and comes back once from its retry."""
    try:
        with closing(remote.encoded(plan.to_encode, profile, options)) as batches:
            for outcomes in batches:
                batch = Batch()
                for record, outcome in outcomes:
                    if isinstance(outcome, DecodeError):
                        _skip(record, outcome, plan, batch, summary, reporter)
                    else:
                        batch.add(outcome)
                if batch.files or batch.gone:
                    _store_batch(batch, plan, vectors, profile, summary)
                reporter.advance(len(batch.files))
    finally:
        summary.workers = remote.workers()


def _skip(
    record: FileRecord,
    error: DecodeError,
    plan: Plan,
    batch: Batch,
    summary: IndexSummary,
    reporter: Reporter,
) -> None:
    summary.note_skip(str(error))
    reporter.skip(record.path, str(error))
    reporter.advance()
    # The old vectors describe content that is gone; after a bug in our own code the
    # content may be fine, so they stay until a run reads the file.
    if record.path in plan.stale and not isinstance(error, DecoderBug):
        batch.gone.append(plan.stale[record.path])


def encode_items(files: list[Decoded], profile: Profile) -> list[list[NewItem]]:
    """Every item of each decoded file, encoded (its images fit one model batch: see
    `Batch.full`); a file `Encoded` elsewhere keeps the items it came with."""
    fresh = [d for d in files if not isinstance(d, Encoded)]
    pixels = [d.pixels for d in fresh if d.pixels is not None]
    images = profile.encode_images(np.stack(pixels)) if pixels else None
    texts = [p.text for d in fresh for p in d.passages]
    text_vectors = iter(profile.encode_texts(texts) if texts else ())
    image_rows = iter(range(len(pixels)))
    encoded = []
    for decoded in files:
        if isinstance(decoded, Encoded):
            encoded.append(list(decoded.encoded))
            continue
        items: list[NewItem] = []
        if decoded.pixels is not None:
            assert images is not None
            row = next(image_rows)
            for space, matrix in images.vectors.items():
                items.append(NewItem(space, 0, images.captions[row], matrix[row]))
        for passage in decoded.passages:
            vector = next(text_vectors)
            items.append(NewItem(profile.text_space, passage.position, passage.snippet, vector))
        items += [item for item in decoded.encoded if item.space in profile.spaces]
        encoded.append(items)
    return encoded


def _store_batch(
    batch: Batch, plan: Plan, vectors: VectorStore, profile: Profile, summary: IndexSummary
) -> None:
    """Encode a batch, then commit it: the files it replaces go, its files and items come."""
    encoded = encode_items(batch.files, profile)
    with vectors.transaction() as tx:
        replaced = [plan.stale[d.record.path] for d in batch.files if d.record.path in plan.stale]
        tx.delete_files(row.id for row in replaced + batch.gone)
        for decoded, items in zip(batch.files, encoded, strict=True):
            record = decoded.record
            file_id = tx.add_file(
                record.path,
                record.modality,
                record.size,
                record.mtime_ns,
                decoded.digest,
                decoded.info,
            )
            tx.add_items(file_id, items)
            tx.add_words(file_id, words_of(decoded))  # lexical search, in the same commit
    summary.indexed += len(batch.files)
    summary.removed += len(batch.gone)
    summary.items += tx.items_added


def remove_paths(roots: Iterable[Path], *, vectors: VectorStore) -> int:
    """Forget every indexed file under `roots` (rows and vectors). Returns how many files."""
    root_strs = [os.path.abspath(r.expanduser()) for r in roots]
    catalog = vectors.catalog
    rows = [
        row for path, row in catalog.files().items() if any(is_under(path, r) for r in root_strs)
    ]
    if not rows:
        return 0
    with vectors.writing(), vectors.transaction() as tx:
        # secure_delete overwrites the freed pages: no text of a removed file stays on disk,
        # and no VACUUM rewrites a whole million-item database for it.
        tx.delete_files(row.id for row in rows)
    return len(rows)


def reason_kind(reason: str) -> str:
    """Group skip reasons for the summary: 'not a readable image (…)' -> 'not a readable image'."""
    return reason.split(" (")[0].split(":")[0]
