"""Atomic, private file writes: a temp file beside the target, then os.replace.

Readers see the old file or the new one, never half of one; a crash leaves at most a
`.NAME-XXXX` temp file, which the next writer removes (`remove_leftovers`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[str], object]) -> None:
    """Call `write(temp_path)`, then move the result over `path` (mode 0600).

    Write failures (a full disk, FAISS's C++ errors) surface as one OSError naming the file.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    os.close(fd)
    try:
        try:
            write(tmp)
        except (OSError, RuntimeError) as exc:
            raise OSError(f"could not write {path.name} (disk full?): {exc}") from None
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def leftovers(directory: Path) -> list[Path]:
    """Temp files (`.NAME-XXXX`) that a killed write left; SQLite's own files are not ours."""
    return sorted(
        p for p in directory.iterdir() if p.name.startswith(".") and "-" in p.name and p.is_file()
    )


def remove_leftovers(directory: Path) -> int:
    """Delete leftover temp files; only safe while holding the writer lock."""
    found = leftovers(directory)
    for path in found:
        path.unlink(missing_ok=True)
    return len(found)
