"""Upgrade an index in place when the models that encode it change.

A new release may change how a profile encodes (its model ids: an INT8 encoder, a new
signal), and `xmodal index --model NAME` may switch profile. Instead of refusing the index,
a writer re-encodes every file it knows into staged items (their space names prefixed with
`STAGED`, where no search looks), committing each batch together with a cursor, so an
upgrade that is killed continues where it stopped. Searches meanwhile answer from the old
vectors. When every file is done, one commit switches to the staged items and records the
new profile; the caller then rebuilds the FAISS files from SQLite.
"""

from __future__ import annotations

import json
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from xmodal_cli.decoder import decoded_stream
from xmodal_cli.indexer import Batch, IndexOptions, IndexSummary, Reporter, encode_items
from xmodal_cli.media import DecodeError
from xmodal_cli.models import Profile
from xmodal_cli.scan import FileRecord
from xmodal_cli.store.catalog import Catalog
from xmodal_cli.store.rows import STAGED, NewItem, profile_record

_PROGRESS = "upgrade_progress"


@dataclass(frozen=True)
class Progress:
    """How far a pending upgrade got: files with ids up to `cursor` are done (`done` of them
    re-encoded, the rest skipped as unreadable)."""

    cursor: int = 0
    done: int = 0


def record_of(profile: Profile) -> dict[str, Any]:
    """What an index records about the profile that encodes it."""
    return profile_record(profile.name, profile.spaces, profile.model_ids)


def progress(catalog: Catalog) -> Progress:
    stored = catalog.get_meta(_PROGRESS)
    return Progress(**json.loads(stored)) if stored else Progress()


def pending_upgrade(catalog: Catalog) -> dict[str, Any] | None:
    """For `status`: the profile being upgraded to and how many files are done, if any."""
    target = catalog.upgrade_target()
    if target is None:
        return None
    return {"to": target["name"], "models": target["models"], "files_done": progress(catalog).done}


def upgrade_in_place(
    catalog: Catalog,
    profile: Profile,
    *,
    options: IndexOptions,
    reporter: Reporter,
    summary: IndexSummary,
) -> None:
    """Re-encode every known file with `profile`, then switch the index over to it."""
    assert catalog.upgrade_target() == record_of(profile), "begin the upgrade first"
    start = progress(catalog)
    rows = sorted((r for r in catalog.files().values() if r.id > start.cursor), key=lambda r: r.id)
    ids = {row.path: row.id for row in rows}
    records = [FileRecord(r.path, r.modality, r.size, r.mtime_ns) for r in rows]
    done, cursor, batch = start.done, start.cursor, Batch()

    def stage() -> None:
        nonlocal done
        encoded = encode_items(batch.files, profile)
        done += len(batch.files)
        with catalog.transaction():
            for decoded, items in zip(batch.files, encoded, strict=True):
                catalog.add_items(ids[decoded.record.path], [_staged(item) for item in items])
            catalog.set_meta(_PROGRESS, json.dumps({"cursor": cursor, "done": done}))
        summary.upgraded += len(batch.files)
        reporter.advance(len(batch.files))

    reporter.start(len(records))
    window = max(options.batch_size * 2, options.workers * 4)
    try:
        with closing(
            decoded_stream(records, profile, workers=options.workers, window=window)
        ) as stream:
            for record, outcome in stream:
                cursor = ids[record.path]  # in order: everything before it is handled
                if isinstance(outcome, DecodeError):
                    summary.note_skip(str(outcome))
                    reporter.skip(record.path, str(outcome))
                    reporter.advance()
                    continue
                batch.add(outcome)
                if batch.full(options.batch_size):
                    stage()
                    batch = Batch()
            if batch.files:
                stage()
    finally:
        reporter.finish()
    summary.removed += catalog.finish_upgrade(profile.text_space)


def _staged(item: NewItem) -> NewItem:
    return NewItem(STAGED + item.space, item.position, item.snippet, item.vector)
