"""Walk folders into FileRecords; the one table that maps extensions to modalities."""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff",
        ".heic", ".heif", ".hif", ".avif",  # phones (media/photo_formats.py)
        # camera RAW, read through its embedded preview (media/photo_formats.py)
        ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf",
        ".rw2", ".raf", ".pef", ".srw", ".rwl", ".3fr", ".erf", ".kdc", ".mrw", ".x3f", ".iiq",
    }
)  # fmt: skip
AUDIO_EXTENSIONS = frozenset(
    {
        ".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".m4b", ".aac",
        ".aif", ".aiff", ".aifc", ".wma", ".caf", ".w64",
    }
)  # fmt: skip
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".3gp"})
TEXT_EXTENSIONS = frozenset(
    {
        ".txt", ".md", ".markdown", ".rst", ".org", ".tex", ".log",
        ".csv", ".tsv", ".json", ".jsonl", ".yaml", ".yml", ".toml", ".ini", ".cfg",
        ".html", ".htm", ".xml",
        ".py", ".js", ".ts", ".tsx", ".jsx", ".go", ".rs", ".java", ".kt", ".c", ".h",
        ".cpp", ".hpp", ".cc", ".cs", ".rb", ".php", ".sh", ".bash", ".zsh", ".sql",
        ".css", ".scss", ".swift", ".lua", ".r", ".pl",
    }
)  # fmt: skip
# Documents are text: read by media/documents.py, passages labelled with their page.
DOCUMENT_EXTENSIONS = frozenset({".pdf", ".docx", ".odt", ".epub"})


@dataclass(frozen=True)
class FileRecord:
    """One indexable file as seen on disk."""

    path: str
    modality: str
    size: int
    mtime_ns: int


def modality_of(path: str) -> str | None:
    """'image', 'audio', 'video', 'text' or None (not indexable) from the file extension."""
    ext = os.path.splitext(path)[1].lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in TEXT_EXTENSIONS or ext in DOCUMENT_EXTENSIONS:
        return "text"
    return None


def _excluded(path: str, root: str, name: str, patterns: tuple[str, ...]) -> bool:
    """A pattern may name the entry ('*.tmp'), a path below the root ('drafts/*') or an
    absolute path ('/home/me/Pictures/cache')."""
    relative = os.path.relpath(path, root)
    return any(
        fnmatch.fnmatch(name, p) or fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(path, p)
        for p in patterns
    )


def scan_tree(
    roots: Iterable[Path],
    *,
    exclude: tuple[str, ...] = (),
    include_hidden: bool = False,
    follow_links: bool = False,
    on_skip: Callable[[str, str], None] | None = None,
) -> Iterator[FileRecord]:
    """Yield indexable regular files under `roots` once each, sorted per directory.

    By default symbolic links are not followed: a linked folder is not entered and a linked
    file is left out (its target is indexed where it lives if that is inside the roots), so
    nothing outside the given folders is read and link loops cannot hang the walk. With
    `follow_links` both are followed, and folders already visited are not entered again.
    FIFOs, sockets and devices are never opened.
    """
    skip = on_skip or (lambda _path, _reason: None)
    absolute_roots = [os.path.abspath(root) for root in roots]
    real_roots = [os.path.realpath(root) for root in absolute_roots]
    yielded: set[str] = set()
    visited: set[str] = set()
    for root_str in absolute_roots:
        if os.path.isfile(root_str):  # a file named on the command line is always taken
            record = _record(root_str, skip)
            if record is not None and record.path not in yielded:
                yielded.add(record.path)
                yield record
            continue
        walk = os.walk(
            root_str,
            followlinks=follow_links,
            onerror=lambda exc: skip(exc.filename, f"cannot read folder: {exc.strerror}"),
        )
        for dirpath, dirnames, filenames in walk:
            real = os.path.realpath(dirpath)
            if real in visited:  # a loop, or overlapping roots: walked already
                dirnames[:] = []
                continue
            visited.add(real)
            kept = []
            for d in sorted(dirnames):
                full = os.path.join(dirpath, d)
                if (not include_hidden and d.startswith(".")) or _excluded(
                    full, root_str, d, exclude
                ):
                    continue
                if os.path.islink(full) and not follow_links:
                    skip(full, "symlinked folder not followed (use --follow-links)")
                    continue
                kept.append(d)
            dirnames[:] = kept
            for name in sorted(filenames):
                if not include_hidden and name.startswith("."):
                    continue
                full = os.path.join(dirpath, name)
                if _excluded(full, root_str, name, exclude) or modality_of(name) is None:
                    continue
                if full in yielded:
                    continue
                if os.path.islink(full) and not follow_links:
                    target = os.path.realpath(full)
                    if not any(is_under(target, r) for r in real_roots):
                        skip(
                            full,
                            "symlink to a file outside the indexed folders (use --follow-links)",
                        )
                    continue
                record = _record(full, skip)
                if record is not None:
                    yielded.add(full)
                    yield record


def _record(path: str, skip: Callable[[str, str], None]) -> FileRecord | None:
    modality = modality_of(path)
    if modality is None:
        return None
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        skip(path.encode("utf-8", "backslashreplace").decode(), "file name is not valid UTF-8")
        return None
    try:
        st = os.stat(path)
    except OSError as exc:
        skip(path, f"cannot stat: {exc.strerror or exc}")
        return None
    if not stat.S_ISREG(st.st_mode):
        skip(path, "not a regular file")
        return None
    return FileRecord(path=path, modality=modality, size=st.st_size, mtime_ns=st.st_mtime_ns)


def is_under(path: str, root: str) -> bool:
    """True if `path` is `root` or inside it (string prefix on a path boundary)."""
    root = root.rstrip(os.sep) or os.sep
    return path == root or path.startswith(root if root == os.sep else root + os.sep)
