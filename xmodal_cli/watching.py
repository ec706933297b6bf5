"""`xmodal index --watch`: keep the index fresh as files appear, change, move or vanish.

watchdog (inotify on Linux, FSEvents on macOS, polling elsewhere) reports events; they are
collected until the folders have been quiet for `quiet` seconds (or `longest` seconds have
passed since the first, so a steady stream still gets indexed), then indexed as one batch.
A camera import of 2,000 photos is one run, not 2,000.

Each batch is an ordinary run through `Collection.index` under the writer lock, taken for
the batch and released after it (so `xmodal remove` or another index run can go between
batches), with the models loaded once. It gets every guarantee of a normal run: a crash or
Ctrl-C keeps what was committed, and the next batch (or run) finishes the rest. The batch
indexes the deepest existing folders that hold the changes, which is enough for the planner
to see new, changed, moved and deleted files there.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xmodal_cli.collection import open_collection
from xmodal_cli.indexer import IndexOptions, IndexSummary, Reporter
from xmodal_cli.models import Profile
from xmodal_cli.scan import is_under, modality_of
from xmodal_cli.store.lock import IndexBusy

QUIET_SECONDS = 2.0
LONGEST_SECONDS = 60.0


@dataclass
class Changes:
    """Paths reported since the last batch, and when the first and last came."""

    paths: set[str] = field(default_factory=set)
    first: float = 0.0
    last: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Event = field(default_factory=threading.Event)

    def add(self, *paths: str) -> None:
        now = time.monotonic()
        with self.lock:
            if not self.paths:
                self.first = now
            self.paths.update(paths)
            self.last = now
        self.arrived.set()

    def take(self, quiet: float, longest: float) -> set[str] | None:
        """The batch, if the burst is over (or has gone on long enough); else None."""
        now = time.monotonic()
        with self.lock:
            if not self.paths or (now - self.last < quiet and now - self.first < longest):
                return None
            taken, self.paths = self.paths, set()
            self.arrived.clear()
            return taken


def batch_roots(changed: Iterable[str], roots: list[str]) -> list[str]:
    """The folders to index for these changes: each one's nearest existing folder inside a
    watched root (a watched file stands for itself), without folders inside others."""
    wanted: set[str] = set()
    for path in changed:
        root = next((r for r in roots if is_under(path, r)), None)
        if root is None:
            continue
        if os.path.isfile(root):
            wanted.add(root)
            continue
        folder = os.path.dirname(path) if path != root else root
        while folder != root and not os.path.isdir(folder):
            folder = os.path.dirname(folder)
        wanted.add(folder)
    ordered = sorted(wanted, key=len)
    return [f for i, f in enumerate(ordered) if not any(is_under(f, o) for o in ordered[:i])]


def _handler(changes: Changes, index_dir: str, roots: list[str], include_hidden: bool) -> Any:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type in ("opened", "closed_no_write"):
                return  # reads change nothing
            paths = [str(p) for p in (event.src_path, getattr(event, "dest_path", "")) if p]
            kept = [p for p in paths if self._relevant(p, event.is_directory)]
            if kept:
                changes.add(*kept)

        @staticmethod
        def _relevant(path: str, folder: bool) -> bool:
            if is_under(path, index_dir):  # an index kept inside a watched folder
                return False
            root = next((r for r in roots if is_under(path, r)), None)
            if root is None:
                return False  # a sibling of a watched file
            below = Path(os.path.relpath(path, root)).parts if path != root else ()
            if not include_hidden and any(part.startswith(".") for part in below):
                return False  # hidden below the root, as the scan skips it
            return folder or modality_of(path) is not None

    return Handler()


def watch(  # noqa: PLR0913 (the run's settings, all keyword-only)
    index_dir: Path,
    roots: list[Path],
    *,
    profile: Profile,
    options: IndexOptions,
    on_batch: Callable[[IndexSummary, list[str]], None],
    reporter: Callable[[], Reporter] | None = None,
    stop: threading.Event | None = None,
    quiet: float = QUIET_SECONDS,
    longest: float = LONGEST_SECONDS,
) -> None:
    """Index bursts of changes under `roots` until `stop` is set (or Ctrl-C)."""
    from watchdog.observers import Observer

    stop = stop or threading.Event()
    changes = Changes()
    absolute = [os.path.abspath(root) for root in roots]
    handler = _handler(changes, str(index_dir), absolute, options.include_hidden)
    observer = Observer()
    for root in absolute:
        folder = root if os.path.isdir(root) else os.path.dirname(root)
        observer.schedule(handler, folder, recursive=os.path.isdir(root))
    observer.start()
    try:
        while not stop.is_set():
            changes.arrived.wait(timeout=min(quiet, 0.5))
            taken = changes.take(quiet, longest)
            if taken is None:
                stop.wait(min(quiet, 0.5) if changes.paths else 0.0)
                continue
            folders = batch_roots(taken, absolute)
            if not folders:
                continue
            try:
                with open_collection(index_dir, write=True, profile=profile) as collection:
                    summary = collection.index(
                        [Path(f) for f in folders],
                        options=options,
                        reporter=reporter() if reporter else None,
                    )
            except IndexBusy:
                changes.add(*taken)  # another writer holds the lock: try again when it is done
                stop.wait(quiet)
                continue
            on_batch(summary, folders)
    finally:
        observer.stop()
        observer.join()
