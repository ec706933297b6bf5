"""The library object: the README's Python API runs, and readers never write."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import RecordingProfile
from tests.documents import write_notes
from xmodal_cli.cli import app
from xmodal_cli.collection import open_collection
from xmodal_cli.store.catalog import Catalog

README = (Path(__file__).parents[1] / "README.md").read_text()


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in the index folder with its bytes and mtime: any write shows."""
    return {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


@pytest.mark.slow
def test_the_readme_python_api_runs(tmp_path: Path, photo_dir: Path) -> None:
    _, found, rest = README.partition("### Python API\n")
    assert found, "README lost its Python API section"
    code = re.search(r"```python\n(.*?)```", rest, re.S)
    assert code is not None
    pictures = tmp_path / "Pictures"
    shutil.copytree(photo_dir, pictures)
    source = code.group(1)
    source = source.replace('"~/.local/share/xmodal"', repr(str(tmp_path / "index")))
    source = source.replace('"~/Pictures"', repr(str(pictures)))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "README.md", "exec"), {})
    lines = printed.getvalue().splitlines()
    photos = len(list(pictures.iterdir()))
    assert lines[0] == f"{photos} files indexed, 0 skipped"
    assert lines[1].startswith("1 ") and lines[1].split()[3] == "chelsea.png"  # the cat
    assert [line for line in lines if line.startswith("like chelsea.png:")][:1]
    assert "like chelsea.png: chelsea.png" not in lines  # the file itself is left out
    assert lines[-1] == f"{photos} files; consistent: True"


def test_status_and_check_on_a_catalog_without_a_profile_write_nothing(tmp_path: Path) -> None:
    """A half-created index (killed before its first run recorded a profile) stays as it is:
    looking at it must not tie it to `lite` or migrate anything."""
    directory = tmp_path / "index"
    Catalog.open(directory, create=True).close()
    before = _snapshot(directory)
    runner = CliRunner()
    status = runner.invoke(app, ["status", "--json", "--index-dir", str(directory)])
    assert status.exit_code == 0, status.output
    info = json.loads(status.stdout)
    assert info["profile"] is None and info["files"] == 0
    check = runner.invoke(app, ["check", "--json", "--index-dir", str(directory)])
    assert check.exit_code == 0, check.output
    assert _snapshot(directory) == before
    with open_collection(directory, models=False) as collection:
        assert collection.catalog.profile_info() is None


def test_a_reader_leaves_stale_derived_files_to_the_next_writer(tmp_path: Path) -> None:
    notes = write_notes(tmp_path / "notes")[0].parent
    directory = tmp_path / "index"
    profile = RecordingProfile()
    with open_collection(directory, write=True, create=True, profile=profile) as collection:
        collection.index([notes])
    (directory / "calibration.npz").unlink()
    (directory / "text.faiss.json").unlink()  # as if a run was killed before saving
    before = _snapshot(directory)
    with open_collection(directory, profile=profile) as collection:
        hits = collection.search("pancakes", limit=3)
        assert hits and collection.check().notes[0].code == "faiss-stale"
    assert _snapshot(directory) == before  # answered from memory, nothing written
    with open_collection(directory, write=True, profile=profile) as collection:
        assert collection.check(repair=True).ok
    assert (directory / "calibration.npz").exists()
    assert (directory / "text.faiss.json").exists()


def test_a_reader_is_refused_an_index_built_by_other_models(tmp_path: Path) -> None:
    """Other vector shapes: its queries cannot meet the stored vectors (a reader of older
    model ids with the same shapes searches them: tests/test_upgrade.py)."""
    from xmodal_cli.errors import XmodalError

    notes = write_notes(tmp_path / "notes")[0].parent
    directory = tmp_path / "index"
    with open_collection(directory, write=True, create=True, profile=RecordingProfile()) as col:
        col.index([notes])
    other = RecordingProfile()
    other.model_ids = {**other.model_ids, "text": "another-text-model"}
    other.spaces = {**other.spaces, "text": 32}
    with pytest.raises(XmodalError, match="not the models this xmodal uses"):
        open_collection(directory, profile=other)


def test_collection_methods_cover_every_command(tmp_path: Path) -> None:
    """index, search, similar, status, check, remove and rebuild on one fake-profile index."""
    notes = write_notes(tmp_path / "notes")
    directory = tmp_path / "index"
    profile = RecordingProfile()
    with open_collection(directory, write=True, create=True, profile=profile) as collection:
        summary = collection.index([notes[0].parent])
        assert summary.indexed == len(notes)
        assert collection.rebuild() == {
            space: collection.catalog.space_counts().get(space, 0) for space in profile.spaces
        }
        assert collection.remove([notes[0]]) == 1
    with open_collection(directory, profile=profile) as collection:
        assert collection.status()["files"] == len(notes) - 1
        assert collection.check().ok
        hits = collection.similar(notes[1], limit=20)
        assert str(notes[1]) not in {hit.path for hit in hits}
        assert str(notes[0]) not in {hit.path for hit in collection.search("anything", limit=20)}


def test_a_typo_in_a_path_leaves_no_index_behind(tmp_path: Path) -> None:
    directory = tmp_path / "index"
    result = CliRunner().invoke(
        app, ["index", str(tmp_path / "Picturs"), "--index-dir", str(directory)]
    )
    assert result.exit_code == 1
    assert "path not found" in result.stderr
    assert not directory.exists()
