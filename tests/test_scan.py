"""scan.py: the extension table, hidden/excluded paths, links, FIFOs and odd file names."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from xmodal_cli.scan import (
    IMAGE_EXTENSIONS,
    TEXT_EXTENSIONS,
    FileRecord,
    is_under,
    modality_of,
    scan_tree,
)


def _touch(path: Path, data: bytes = b"hello") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _paths(records: list[FileRecord], root: Path) -> list[str]:
    return [os.path.relpath(r.path, root) for r in records]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.jpg", "image"),
        ("A.JPEG", "image"),
        ("b.png", "image"),
        ("c.WebP", "image"),
        ("d.tiff", "image"),
        ("notes.md", "text"),
        ("page.HTML", "text"),
        ("script.py", "text"),
        ("data.jsonl", "text"),
        ("song.mp3", "audio"),
        ("Memo.M4A", "audio"),
        ("take.flac", "audio"),
        ("video.mp4", "video"),
        ("Clip.MOV", "video"),
        ("film.mkv", "video"),
        ("video.flv", None),
        ("archive.tar.gz", None),
        ("README", None),
        ("dir.jpg/file", None),
        (".jpg", None),  # a dot file named ".jpg" has no extension
    ],
)
def test_modality_of_extension_table(name: str, expected: str | None) -> None:
    assert modality_of(name) == expected


def test_extension_tables_are_disjoint_and_lowercase() -> None:
    assert not IMAGE_EXTENSIONS & TEXT_EXTENSIONS
    for ext in IMAGE_EXTENSIONS | TEXT_EXTENSIONS:
        assert ext.startswith(".")
        assert ext == ext.lower()


def test_scan_yields_records_with_stat_fields_in_sorted_order(tmp_path: Path) -> None:
    _touch(tmp_path / "b.txt", b"bee")
    _touch(tmp_path / "a.png", b"x" * 10)
    _touch(tmp_path / "sub" / "c.md", b"sea")
    _touch(tmp_path / "ignored.bin", b"\x00")
    records = list(scan_tree([tmp_path]))
    assert _paths(records, tmp_path) == ["a.png", "b.txt", os.path.join("sub", "c.md")]
    first = records[0]
    st = os.stat(tmp_path / "a.png")
    assert first.modality == "image"
    assert first.size == 10 == st.st_size
    assert first.mtime_ns == st.st_mtime_ns
    assert os.path.isabs(first.path)
    assert records[1].modality == "text"


def test_hidden_files_and_folders_skipped_by_default(tmp_path: Path) -> None:
    _touch(tmp_path / "seen.txt")
    _touch(tmp_path / ".secret.txt")
    _touch(tmp_path / ".cache" / "inside.txt")
    _touch(tmp_path / "visible" / ".also-hidden.md")
    assert _paths(list(scan_tree([tmp_path])), tmp_path) == ["seen.txt"]

    everything = _paths(list(scan_tree([tmp_path], include_hidden=True)), tmp_path)
    assert sorted(everything) == sorted(
        [
            ".secret.txt",
            os.path.join(".cache", "inside.txt"),
            os.path.join("visible", ".also-hidden.md"),
            "seen.txt",
        ]
    )


def test_exclude_by_name_glob(tmp_path: Path) -> None:
    _touch(tmp_path / "keep.txt")
    _touch(tmp_path / "draft.tmp.txt")
    _touch(tmp_path / "cache" / "deep.txt")
    _touch(tmp_path / "other" / "cache.txt")
    found = _paths(list(scan_tree([tmp_path], exclude=("cache", "*.tmp.txt"))), tmp_path)
    # "cache" prunes the folder but not a file merely starting with that word.
    assert sorted(found) == sorted(["keep.txt", os.path.join("other", "cache.txt")])


def test_exclude_by_path_glob(tmp_path: Path) -> None:
    _touch(tmp_path / "a" / "drafts" / "one.txt")
    _touch(tmp_path / "a" / "final" / "two.txt")
    _touch(tmp_path / "b" / "three.txt")
    found = _paths(list(scan_tree([tmp_path], exclude=("*/drafts/*",))), tmp_path)
    assert sorted(found) == sorted(
        [os.path.join("a", "final", "two.txt"), os.path.join("b", "three.txt")]
    )
    # An absolute path pattern prunes that folder (matched before descending).
    found = _paths(list(scan_tree([tmp_path], exclude=(str(tmp_path / "a"),))), tmp_path)
    assert found == [os.path.join("b", "three.txt")]


def test_symlink_loop_does_not_hang_and_yields_each_file_once(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _touch(root / "top.txt")
    _touch(root / "sub" / "inner.txt")
    os.symlink(root, root / "sub" / "loop")  # a directory link pointing back up
    os.symlink("..", root / "sub" / "parent")
    found = _paths(list(scan_tree([root])), root)
    assert sorted(found) == sorted(["top.txt", os.path.join("sub", "inner.txt")])


def test_link_out_of_the_roots_is_skipped_unless_asked(tmp_path: Path) -> None:
    target = _touch(tmp_path / "elsewhere" / "real.txt", b"12345")
    _touch(tmp_path / "elsewhere" / "deep" / "other.txt")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(target, root / "link.txt")
    os.symlink(tmp_path / "elsewhere", root / "linked-folder")
    skipped: list[tuple[str, str]] = []
    assert list(scan_tree([root], on_skip=lambda p, r: skipped.append((p, r)))) == []
    reasons = {Path(p).name: r for p, r in skipped}
    assert "outside the indexed folders" in reasons["link.txt"]
    assert "--follow-links" in reasons["linked-folder"]

    followed = sorted(r.path for r in scan_tree([root], follow_links=True))
    assert str(root / "link.txt") in followed
    assert str(root / "linked-folder" / "deep" / "other.txt") in followed
    (record,) = [r for r in scan_tree([root], follow_links=True) if r.path.endswith("link.txt")]
    assert record.size == 5


def test_link_inside_the_roots_is_not_indexed_twice(tmp_path: Path) -> None:
    real = _touch(tmp_path / "root" / "photos" / "a.txt")
    os.symlink(real, tmp_path / "root" / "alias.txt")
    skipped: list[tuple[str, str]] = []
    found = [
        r.path for r in scan_tree([tmp_path / "root"], on_skip=lambda p, r: skipped.append((p, r)))
    ]
    assert found == [str(real)] and skipped == []


def test_overlapping_roots_yield_each_file_once(tmp_path: Path) -> None:
    _touch(tmp_path / "a" / "b" / "note.txt")
    found = [r.path for r in scan_tree([tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a"])]
    assert found == [str(tmp_path / "a" / "b" / "note.txt")]


def test_follow_links_does_not_loop(tmp_path: Path) -> None:
    _touch(tmp_path / "root" / "sub" / "inner.txt")
    os.symlink(tmp_path / "root", tmp_path / "root" / "sub" / "loop")
    found = [r.path for r in scan_tree([tmp_path / "root"], follow_links=True)]
    assert found == [str(tmp_path / "root" / "sub" / "inner.txt")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs only")
def test_fifo_is_never_yielded_or_opened(tmp_path: Path) -> None:
    _touch(tmp_path / "plain.txt")
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    skipped: list[tuple[str, str]] = []
    # Opening a FIFO with no writer would block forever; finishing proves it was not opened.
    found = _paths(
        list(scan_tree([tmp_path], on_skip=lambda p, r: skipped.append((p, r)))), tmp_path
    )
    assert found == ["plain.txt"]
    assert skipped == [(str(fifo), "not a regular file")]
    # As an explicit root it is neither a file nor a folder: nothing comes out.
    assert list(scan_tree([fifo])) == []


def test_single_file_as_root(tmp_path: Path) -> None:
    photo = _touch(tmp_path / "deep" / "photo.JPG", b"x" * 7)
    _touch(tmp_path / "deep" / "other.txt")
    (record,) = scan_tree([photo])
    assert record == FileRecord(
        path=str(photo), modality="image", size=7, mtime_ns=os.stat(photo).st_mtime_ns
    )
    # A root file of an unknown type yields nothing rather than failing.
    assert list(scan_tree([_touch(tmp_path / "film.flv")])) == []


def test_relative_root_gives_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _touch(tmp_path / "notes" / "n.txt")
    monkeypatch.chdir(tmp_path)
    (record,) = scan_tree([Path("notes")])
    assert record.path == str(tmp_path / "notes" / "n.txt")


@pytest.mark.skipif(sys.platform in ("darwin", "win32"), reason="needs a bytes-named file")
def test_non_utf8_file_name_is_skipped_with_reason(tmp_path: Path) -> None:
    bad = os.path.join(os.fsencode(tmp_path), b"caf\xe9.txt")
    with open(bad, "wb") as handle:
        handle.write(b"latin-1 name")
    _touch(tmp_path / "good.txt")
    skipped: list[tuple[str, str]] = []
    found = list(scan_tree([tmp_path], on_skip=lambda p, r: skipped.append((p, r))))
    assert _paths(found, tmp_path) == ["good.txt"]
    assert len(skipped) == 1
    shown, reason = skipped[0]
    assert "UTF-8" in reason
    shown.encode("utf-8")  # the reported name itself must be printable
    assert shown.endswith("caf\\udce9.txt")


def test_is_under_respects_path_boundaries() -> None:
    assert is_under("/a/b", "/a/b")
    assert is_under("/a/b/c.txt", "/a/b")
    assert is_under("/a/b/c.txt", "/a/b/")
    assert not is_under("/a/bc", "/a/b")
    assert not is_under("/a/bc/d.txt", "/a/b")
    assert not is_under("/a", "/a/b")
    assert is_under("/anything", "/")
