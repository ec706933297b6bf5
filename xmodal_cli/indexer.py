"""Index folders: plan (new/changed/moved/deleted) → decode (threads) → encode (batches) → store.

Each batch is committed to SQLite in one transaction together with a generation bump, so an
interrupted run loses at most the batch in flight; FAISS files are saved at the end (and on
Ctrl-C when they match the catalog), and otherwise rebuilt from SQLite on next open.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from xmodal_cli.errors import XmodalError
from xmodal_cli.media import DecodeError, open_regular, read_failure
from xmodal_cli.media.image import decode_image
from xmodal_cli.media.text import chunk_text, read_text, title_words
from xmodal_cli.models import Profile
from xmodal_cli.recordings import analyse_for
from xmodal_cli.scan import FileRecord, is_under, scan_tree
from xmodal_cli.store.catalog import Catalog, FileRow, NewItem
from xmodal_cli.store.vectors import VectorStore

_HASH_SAMPLE = 256 * 1024


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


@dataclass
class IndexOptions:
    """Knobs for one indexing run."""

    exclude: tuple[str, ...] = ()
    include_hidden: bool = False
    follow_links: bool = False
    batch_size: int = 32
    workers: int = 2


@dataclass
class IndexSummary:
    """What one run did; printed as the final line or as --json."""

    indexed: int = 0
    unchanged: int = 0
    moved: int = 0
    removed: int = 0
    skipped: int = 0
    items: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    skip_reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "moved": self.moved,
            "removed": self.removed,
            "skipped": self.skipped,
            "items_added": self.items,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "skip_reasons": dict(self.skip_reasons),
        }


@dataclass
class _Decoded:
    record: FileRecord
    digest: str
    pixels: np.ndarray | None = None
    passages: list[str] = field(default_factory=list)  # encoded into the text space
    snippets: list[str] = field(default_factory=list)  # shown for each passage
    positions: list[int] = field(default_factory=list)  # per passage: chunk number or second
    encoded: list[NewItem] = field(default_factory=list)  # vectors made while decoding
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Plan:
    to_encode: list[FileRecord]
    unchanged: int
    moves: list[tuple[FileRow, FileRecord]]  # also same-path files whose mtime alone changed
    deletions: list[FileRow]
    stale: dict[str, FileRow]  # path -> old row of a changed file, replaced when re-encoded


def content_hash(path: str, size: int) -> str:
    """Digest of size + head/middle/tail samples: cheap on big files, enough to spot renames."""
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    # Never a plain open(): a path swapped for a FIFO after the scan would block for ever.
    with open_regular(path) as handle:
        if size <= 3 * _HASH_SAMPLE:
            digest.update(handle.read())
        else:
            for offset in (0, size // 2, size - _HASH_SAMPLE):
                handle.seek(offset)
                digest.update(handle.read(_HASH_SAMPLE))
    return digest.hexdigest()


def check_roots(roots: Iterable[Path]) -> list[Path]:
    """Absolute roots; a missing one is an error before any work starts."""
    checked = []
    for root in roots:
        absolute = Path(os.path.abspath(root.expanduser()))
        if not absolute.exists():
            raise XmodalError(
                f"path not found: {root}", "check the spelling, or quote paths with spaces"
            )
        checked.append(absolute)
    return checked


def plan_run(
    roots: list[Path],
    catalog: Catalog,
    options: IndexOptions,
    reporter: Reporter,
    summary: IndexSummary,
) -> _Plan:
    """Compare the tree with the catalog: what to encode, keep, move and prune."""

    def note_skip(path: str, reason: str) -> None:
        summary.skipped += 1
        summary.skip_reasons[_reason_kind(reason)] += 1
        reporter.skip(path, reason)

    known = catalog.files()
    root_strs = [str(r) for r in roots]
    seen: set[str] = set()
    to_encode: list[FileRecord] = []
    stale: dict[str, FileRow] = {}
    touched: list[tuple[FileRow, FileRecord]] = []
    unchanged = 0
    for record in scan_tree(
        roots,
        exclude=options.exclude,
        include_hidden=options.include_hidden,
        follow_links=options.follow_links,
        on_skip=note_skip,
    ):
        seen.add(record.path)
        row = known.get(record.path)
        if row is not None and row.size == record.size and row.mtime_ns == record.mtime_ns:
            unchanged += 1
            continue
        if row is not None:
            if row.size == record.size and _same_content(record, row):
                touched.append((row, record))  # only the timestamp moved: keep the vectors
                continue
            stale[record.path] = row
        to_encode.append(record)
    missing = [
        row
        for path, row in known.items()
        if path not in seen and any(is_under(path, r) for r in root_strs)
    ]
    moves: list[tuple[FileRow, FileRecord]] = []
    if missing:
        by_hash: dict[tuple[str, str], list[FileRow]] = {}
        for row in missing:
            by_hash.setdefault((row.modality, row.hash), []).append(row)
        remaining = []
        for record in to_encode:
            if record.path in stale:
                remaining.append(record)
                continue
            try:
                digest = content_hash(record.path, record.size)
            except (OSError, DecodeError):
                remaining.append(record)  # decode will report it
                continue
            candidates = by_hash.get((record.modality, digest))
            if candidates:
                moves.append((candidates.pop(), record))
            else:
                remaining.append(record)
        to_encode = remaining
        moved_ids = {row.id for row, _ in moves}
        missing = [row for row in missing if row.id not in moved_ids]
    return _Plan(to_encode, unchanged + len(touched), moves + touched, missing, stale)


def _same_content(record: FileRecord, row: FileRow) -> bool:
    try:
        return content_hash(record.path, record.size) == row.hash
    except (OSError, DecodeError):
        return False


def index_paths(
    roots: Iterable[Path],
    *,
    catalog: Catalog,
    vectors: VectorStore,
    profile: Profile,
    options: IndexOptions | None = None,
    reporter: Reporter | None = None,
) -> IndexSummary:
    """Bring the index in line with `roots`: encode what is new or changed, prune the rest."""
    options = options or IndexOptions()
    reporter = reporter or SilentReporter()
    started = time.perf_counter()
    summary = IndexSummary()
    checked = check_roots(roots)
    plan = plan_run(checked, catalog, options, reporter, summary)
    summary.unchanged = plan.unchanged
    if plan.to_encode or plan.moves or plan.deletions:
        # Load (or rebuild) every space before the first commit: a rebuild after it would
        # already contain the new rows, and adding them again would duplicate ids.
        for space in vectors.spaces:
            vectors.get(space)
    try:
        if plan.moves or plan.deletions:
            _apply_moves_and_deletions(plan, catalog, vectors)
            summary.moved = sum(row.path != record.path for row, record in plan.moves)
            summary.removed = len(plan.deletions)
        reporter.start(len(plan.to_encode))
        _encode_and_store(plan, catalog, vectors, profile, options, reporter, summary)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        reporter.finish()
        _save_if_consistent(catalog, vectors)
        summary.seconds = time.perf_counter() - started
    return summary


def _apply_moves_and_deletions(plan: _Plan, catalog: Catalog, vectors: VectorStore) -> None:
    with catalog.transaction():
        for row, record in plan.moves:
            catalog.move_file(row.id, record.path, record.size, record.mtime_ns)
        removed = catalog.delete_files(row.id for row in plan.deletions)
        catalog.bump_generation()
    for space, ids in removed.items():
        vectors.get(space).remove(ids)


def _decode(
    record: FileRecord, profile: Profile, cancelled: Callable[[], bool] = lambda: False
) -> _Decoded:
    """Runs in a worker thread: hash and decode one file, or raise DecodeError.

    Recordings are analysed here in full (acoustic vectors, transcript): what comes back is
    small, so a long podcast never waits in the queue as raw samples."""
    try:
        digest = content_hash(record.path, record.size)
    except OSError as exc:
        raise read_failure(exc) from None
    if record.size == 0:
        raise DecodeError("empty file")
    if record.modality == "image":
        image = decode_image(record.path)
        return _Decoded(record, digest, pixels=image.pixels, info=image.info)
    if record.modality == "audio":
        recording = analyse_for(record.path, profile, cancelled=cancelled)
        return _Decoded(
            record,
            digest,
            passages=[p.text for p in recording.passages],
            snippets=[p.snippet for p in recording.passages],
            positions=[p.position for p in recording.passages],
            encoded=[NewItem(w.space, w.position, w.snippet, w.vector) for w in recording.windows],
            info=recording.info,
        )
    text = read_text(record.path)
    chunks = chunk_text(text, profile.passage_words)
    title = title_words(record.path)
    # The file name often says what a note is about ("tax_receipt_2023.txt"), so each
    # passage is encoded with it; the snippet shown stays the passage itself.
    passages = [f"{title}: {c.text}" if title else c.text for c in chunks]
    snippets = [c.text for c in chunks]
    return _Decoded(
        record, digest, passages=passages, snippets=snippets, positions=list(range(len(chunks)))
    )


def _decoded_stream(
    records: list[FileRecord],
    decode: Callable[[FileRecord], _Decoded],
    workers: int,
    window: int,
    stop: threading.Event,
) -> Iterator[tuple[FileRecord, _Decoded | DecodeError]]:
    """Decode in a thread pool, yielding in input order with at most `window` in flight."""
    with ThreadPoolExecutor(
        max_workers=max(1, workers), thread_name_prefix="xmodal-decode"
    ) as pool:
        pending: deque[tuple[FileRecord, Future[_Decoded]]] = deque()
        queue = iter(records)
        try:
            for record in queue:
                pending.append((record, pool.submit(decode, record)))
                if len(pending) >= window:
                    yield _result(*pending.popleft())
            while pending:
                yield _result(*pending.popleft())
        finally:
            stop.set()  # running decodes give up between blocks instead of finishing
            for _, future in pending:
                future.cancel()


class _DecoderBug(DecodeError):
    """An unexpected exception in a decoder: the file is skipped, its old rows are kept."""


def _result(
    record: FileRecord, future: Future[_Decoded]
) -> tuple[FileRecord, _Decoded | DecodeError]:
    try:
        return record, future.result()
    except DecodeError as exc:
        return record, exc
    except XmodalError:
        raise  # a model that cannot load fails every file alike: stop with its message
    except Exception as exc:  # a decoder bug must not kill a long run; report and go on
        return record, _DecoderBug(f"unexpected error: {type(exc).__name__}: {exc}")


def _encode_and_store(
    plan: _Plan,
    catalog: Catalog,
    vectors: VectorStore,
    profile: Profile,
    options: IndexOptions,
    reporter: Reporter,
    summary: IndexSummary,
) -> None:
    batch: list[_Decoded] = []
    images = passages = recordings = 0
    failed_stale: list[FileRow] = []
    window = max(options.batch_size * 2, options.workers * 4)

    stop = threading.Event()  # set when the run ends early: workers drop what they hold

    def decode(record: FileRecord) -> _Decoded:
        return _decode(record, profile, stop.is_set)

    for record, outcome in _decoded_stream(plan.to_encode, decode, options.workers, window, stop):
        if isinstance(outcome, DecodeError):
            summary.skipped += 1
            summary.skip_reasons[_reason_kind(str(outcome))] += 1
            reporter.skip(record.path, str(outcome))
            reporter.advance()
            # The old vectors describe content that is gone; after a bug in our own code
            # the content may be fine, so they stay until a run reads the file.
            if record.path in plan.stale and not isinstance(outcome, _DecoderBug):
                failed_stale.append(plan.stale[record.path])
            continue
        batch.append(outcome)
        images += outcome.pixels is not None
        passages += len(outcome.passages)
        # Recordings take seconds each to analyse: commit them often, so Ctrl-C loses little.
        recordings += outcome.record.modality == "audio"
        if (
            images >= options.batch_size
            or passages >= options.batch_size * 4
            or recordings >= 8
            or len(batch) >= 256
        ):
            _store_batch(batch, plan, catalog, vectors, profile, options, summary, failed_stale)
            reporter.advance(len(batch))
            batch, images, passages, recordings, failed_stale = [], 0, 0, 0, []
    if batch or failed_stale:
        _store_batch(batch, plan, catalog, vectors, profile, options, summary, failed_stale)
        reporter.advance(len(batch))


def _store_batch(
    batch: list[_Decoded],
    plan: _Plan,
    catalog: Catalog,
    vectors: VectorStore,
    profile: Profile,
    options: IndexOptions,
    summary: IndexSummary,
    failed_stale: list[FileRow],
) -> None:
    """Encode a batch, then write it in one transaction and mirror it into FAISS."""
    pixels = [d.pixels for d in batch if d.pixels is not None]
    encoded_images = None
    if pixels:
        encoded_images = [
            profile.encode_images(np.stack(pixels[i : i + options.batch_size]))
            for i in range(0, len(pixels), options.batch_size)
        ]
    all_passages = [p for d in batch for p in d.passages]
    passage_vectors = profile.encode_texts(all_passages) if all_passages else None

    added: dict[str, tuple[list[int], list[np.ndarray]]] = {}
    with catalog.transaction():
        removed = catalog.delete_files(
            [plan.stale[d.record.path].id for d in batch if d.record.path in plan.stale]
            + [row.id for row in failed_stale]
        )
        image_index = passage_index = 0
        for decoded in batch:
            record = decoded.record
            file_id = catalog.add_file(
                record.path,
                record.modality,
                record.size,
                record.mtime_ns,
                decoded.digest,
                decoded.info,
            )
            items: list[NewItem] = []
            if decoded.pixels is not None:
                assert encoded_images is not None
                group = encoded_images[image_index // options.batch_size]
                row = image_index % options.batch_size
                for space, matrix in group.vectors.items():
                    items.append(NewItem(space, 0, group.captions[row], matrix[row]))
                image_index += 1
            for position, snippet in zip(decoded.positions, decoded.snippets, strict=True):
                assert passage_vectors is not None
                vector = passage_vectors[passage_index]
                items.append(NewItem(profile.text_space, position, snippet, vector))
                passage_index += 1
            items += [item for item in decoded.encoded if item.space in profile.spaces]
            ids = catalog.add_items(file_id, items)
            for item_id, item in zip(ids, items, strict=True):
                slot = added.setdefault(item.space, ([], []))
                slot[0].append(item_id)
                slot[1].append(item.vector)
        catalog.bump_generation()
    for space, ids_removed in removed.items():
        vectors.get(space).remove(ids_removed)
    for space, (ids, vecs) in added.items():
        vectors.get(space).add(np.asarray(ids, dtype=np.int64), np.stack(vecs))
    summary.indexed += len(batch)
    summary.removed += len(failed_stale)
    summary.items += sum(len(ids) for ids, _ in added.values())


def _save_if_consistent(catalog: Catalog, vectors: VectorStore) -> None:
    """Save FAISS files only if they hold exactly what SQLite holds (a Ctrl-C can land
    between a commit and the in-memory update); otherwise leave them stale to be rebuilt."""
    counts = catalog.space_counts()
    for space in vectors.loaded_spaces():
        if vectors.get(space).ntotal != counts.get(space, 0):
            return
    stale = [space for space in vectors.spaces if not vectors.is_current(space)]
    if not vectors.loaded_spaces() and not stale:
        return  # nothing changed: an unchanged re-run writes nothing
    for space in stale:
        vectors.get(space)  # rebuilds a file left stale by an earlier crash
    vectors.save()


def rebuild_vectors(catalog: Catalog, vectors: VectorStore) -> dict[str, int]:
    """Recreate every FAISS file from SQLite; returns vectors per space."""
    out = {}
    for space in vectors.spaces:
        out[space] = vectors.rebuild(space).ntotal
    vectors.save()
    return out


def remove_paths(roots: Iterable[Path], *, catalog: Catalog, vectors: VectorStore) -> int:
    """Forget every indexed file under `roots` (rows, vectors, and freed pages). Returns files."""
    root_strs = [os.path.abspath(r.expanduser()) for r in roots]
    rows = [
        row for path, row in catalog.files().items() if any(is_under(path, r) for r in root_strs)
    ]
    if not rows:
        return 0
    for space in vectors.spaces:
        vectors.get(space)
    with catalog.transaction():
        removed = catalog.delete_files(row.id for row in rows)
        catalog.bump_generation()
    for space, ids in removed.items():
        vectors.get(space).remove(ids)
    vectors.save()
    catalog.vacuum()
    return len(rows)


def _reason_kind(reason: str) -> str:
    """Group skip reasons for the summary: 'not a readable image (…)' -> 'not a readable image'."""
    return reason.split(" (")[0].split(":")[0]
