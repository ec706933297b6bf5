"""`xmodal dupes` on planted copies of real photos, real recordings and a real note, indexed
with the real offline profile: exact copies confirmed whole, near copies by k-NN, keepers."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile
from PIL import Image
from typer.testing import CliRunner

from bench import sample_sounds as sounds
from tests.conftest import ListReporter
from tests.documents import NOTES
from xmodal_cli.cli import app
from xmodal_cli.collection import Collection, open_collection
from xmodal_cli.dupes import Group
from xmodal_cli.filtering import make_facets
from xmodal_cli.indexer import IndexOptions, index_paths
from xmodal_cli.models.lite import LiteProfile

CLIP = "sense_and_sensibility_01_austen_64kb-0870.wav"
OTHER_CLIP = "sense_and_sensibility_01_austen_64kb-0890.wav"
DAY = 86_400


def _plant(media: Path, photos: Path) -> None:
    """Originals dated oldest, so "oldest" can decide between equals."""
    shutil.copyfile(photos / "chelsea.png", media / "cat.png")
    (media / "backup").mkdir()
    shutil.copyfile(photos / "chelsea.png", media / "backup" / "cat.png")  # exact
    with Image.open(photos / "chelsea.png") as im:
        rgb = im.convert("RGB")
        w, h = rgb.size
        rgb.resize((w // 2, h // 2)).save(media / "cat_small.jpg", quality=90)
        rgb.save(media / "cat_q40.jpg", quality=40)
        rgb.crop((w // 20, h // 20, w - w // 20, h - h // 20)).save(media / "cat_crop.jpg")
    for name in ("coffee.png", "rocket.jpg", "grace_hopper.jpg"):  # different photos
        shutil.copyfile(photos / name, media / name)
    # Same size and the same sampled hash (head, middle and tail), different bytes between:
    # only the whole-file hash can tell these apart, and they are near, not exact.
    with Image.open(photos / "astronaut.png") as im:
        im.convert("RGB").save(media / "astronaut.bmp")
    edited = bytearray((media / "astronaut.bmp").read_bytes())
    assert len(edited) > 3 * 256 * 1024
    edited[300_000] ^= 0xFF
    (media / "astronaut_edit.bmp").write_bytes(bytes(edited))
    data, rate = soundfile.read(str(sounds.librivox_clip(CLIP)), dtype="float32")
    shutil.copyfile(sounds.librivox_clip(CLIP), media / "reading.wav")
    soundfile.write(str(media / "reading.ogg"), data, rate)  # re-encoded
    cut = len(data) // 10
    soundfile.write(str(media / "reading_trim.flac"), data[cut:-cut], rate)  # trimmed
    shutil.copyfile(sounds.librivox_clip(OTHER_CLIP), media / "other_reading.wav")
    text = NOTES["japan_itinerary.md"]
    (media / "trip.md").write_text(text)
    (media / "trip.html").write_text(f"<html><body><p>{text}</p></body></html>")
    (media / "pancakes.md").write_text(NOTES["pancakes.md"])
    first = ("cat.png", "astronaut.bmp", "reading.wav", "trip.md")
    for age, path in enumerate(sorted(media.rglob("*.*"), key=lambda p: (p.name not in first, p))):
        stamp = 1_600_000_000 + age * DAY
        os.utime(path, (stamp, stamp))
    shutil.copystat(media / "cat.png", media / "backup" / "cat.png")  # as `cp -p` keeps it


@pytest.fixture(scope="module")
def planted(
    tmp_path_factory: pytest.TempPathFactory, photo_dir: Path, lite_profile: LiteProfile
) -> Iterator[Collection]:
    root = tmp_path_factory.mktemp("dupes")
    media = root / "media"
    media.mkdir()
    _plant(media, photo_dir)
    with open_collection(root / "index", create=True, profile=lite_profile) as col:
        index_paths(
            [media],
            vectors=col.vectors,
            profile=lite_profile,
            options=IndexOptions(batch_size=8, workers=2),
            reporter=ListReporter(),
        )
    reader = open_collection(root / "index", profile=lite_profile)
    yield reader
    reader.close()


def _names(group: Group) -> list[str]:
    """The group's files relative to the planted folder, keeper first."""
    return [m.path.split("/media/", 1)[1] for m in group.files]


def test_exact_copies_are_confirmed_by_hashing_them_whole(planted: Collection) -> None:
    exact = [g for g in planted.dupes() if g.kind == "exact"]
    assert [_names(g) for g in exact] == [["cat.png", "backup/cat.png"]]
    assert exact[0].why == "shortest path"  # same pixels, same date
    assert [m.score for m in exact[0].files] == [1.0, 1.0]


def test_near_copies_of_photos_recordings_and_documents(planted: Collection) -> None:
    near = {g.type: g for g in planted.dupes() if g.kind == "near" and g.type != "image"}
    images = [g for g in planted.dupes() if g.kind == "near" and g.type == "image"]
    assert sorted(sorted(_names(g)) for g in images) == [
        ["astronaut.bmp", "astronaut_edit.bmp"],
        ["cat.png", "cat_crop.jpg", "cat_q40.jpg", "cat_small.jpg"],  # the exact twin via cat
    ]
    cat = next(g for g in images if "cat.png" in _names(g))
    assert cat.keeper.endswith("/media/cat.png") and cat.why.startswith("oldest (2020-")
    assert all(0.85 <= m.score < 1.0 for m in cat.files[1:])
    assert _names(near["audio"])[0] == "reading.wav"  # longest, then oldest
    assert sorted(_names(near["audio"])) == ["reading.ogg", "reading.wav", "reading_trim.flac"]
    assert sorted(_names(near["text"])) == ["trip.html", "trip.md"]


def test_type_threshold_and_filters_narrow_the_search(planted: Collection) -> None:
    assert {g.type for g in planted.dupes(types=["audio"])} == {"audio"}
    strict = planted.dupes(types=["image"], threshold=0.999)
    assert all(g.kind == "exact" or "astronaut.bmp" in _names(g) for g in strict)
    jpegs = planted.dupes(types=["image"], facets=make_facets(exts=["jpg"]))
    assert [_names(g)[0] for g in jpegs] == ["cat_q40.jpg"]  # the only full-size one
    assert sorted(_names(jpegs[0])) == ["cat_crop.jpg", "cat_q40.jpg", "cat_small.jpg"]
    assert jpegs[0].why == "largest (0.14 MP)"


def test_cli_json_extras_and_paths_delete_nothing(planted: Collection) -> None:
    media = planted.directory.parent / "media"
    before = sorted(p for p in media.rglob("*") if p.is_file())
    index = ["--index-dir", str(planted.directory)]
    shown = CliRunner().invoke(app, ["dupes", str(media), "--json", *index])
    assert shown.exit_code == 0, shown.output
    groups = json.loads(shown.stdout)
    assert {g["kind"] for g in groups} == {"exact", "near"}
    assert all(set(g) >= {"kind", "keeper", "files"} for g in groups)
    assert all(g["files"][0] == {"path": g["keeper"], "score": 1.0} for g in groups)
    extras = CliRunner().invoke(app, ["dupes", str(media), "--extras", "--paths", "-0", *index])
    listed = sorted(extras.stdout.split("\0")[:-1])
    keepers = {g["keeper"] for g in groups}
    expected = sorted({f["path"] for g in groups for f in g["files"]} - keepers)
    assert listed == expected and len(listed) == 8
    lines = CliRunner().invoke(app, ["dupes", str(media / "backup"), "--jsonl", *index])
    assert lines.stdout == ""  # one file of the pair is outside the folder asked about
    assert sorted(p for p in media.rglob("*") if p.is_file()) == before
    typo = CliRunner().invoke(app, ["dupes", str(media / "Pictuers"), *index])
    assert typo.exit_code == 1 and "path not found" in typo.output


def test_the_coarse_index_finds_the_near_copies_the_exact_one_finds() -> None:
    """Past EXACT_UP_TO files, neighbours come from IVF on a projection: planted copies
    (cosine 0.85-0.99 to their original) must still be found, with exact scores."""
    import numpy as np

    from xmodal_cli.dupes import _neighbours

    rng = np.random.default_rng(5)
    centres = rng.standard_normal((60, 256)).astype(np.float32)
    matrix = centres[rng.integers(0, 60, 6000)] + rng.standard_normal((6000, 256)).astype("f4")
    originals, copies = np.arange(100), np.arange(5900, 6000)
    noise = rng.uniform(0.3, 0.7, (100, 1)) * rng.standard_normal((100, 256))
    matrix[copies] = matrix[originals] + noise.astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    cosines = np.sum(matrix[originals] * matrix[copies], axis=1)
    assert cosines.min() > 0.85 and cosines.max() < 0.999
    scores, found = _neighbours(np.ascontiguousarray(matrix), 9, exact_up_to=1000)
    _, exact = _neighbours(np.ascontiguousarray(matrix), 9)
    for original, copy in zip(originals, copies, strict=True):
        assert copy in found[original] and copy in exact[original]
        at = found[original].tolist().index(copy)
        assert scores[original][at] == pytest.approx(
            float(matrix[original] @ matrix[copy]), abs=1e-5
        )
