"""One writer per index directory: an advisory `flock` on `index.lock`.

The kernel drops a flock when its process dies (even by SIGKILL), so a lock can never be
left stale by a crash; the file only carries the holder's pid for the error message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from xmodal_cli.errors import XmodalError

LOCK_NAME = "index.lock"


class IndexBusy(XmodalError):
    """Another process holds the writer lock."""


class IndexLock:
    """Exclusive, non-blocking; use as a context manager or call release()."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> IndexLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise IndexBusy(
                f"another indexing run is active on this index (pid {holder})",
                "wait for it to finish; searching meanwhile is fine",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> IndexLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
