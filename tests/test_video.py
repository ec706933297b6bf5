"""Videos: real slideshows of the sample photos over espeak-ng speech (bench/sample_videos.py),
encoded by FFmpeg through PyAV with known times, indexed with the real offline profile.

party.mp4  black 0-2 s, cat 2-20, coffee 20-40, rocket 40-60, motorcycle 60-75;
           "the cat is asleep on the sofa" at 5 s, "we are moving to Lisbon…" at 64 s
copy.mov   the same pictures and words, re-encoded at another size: a duplicate of party
other.mkv  a different film that also fades in from black, with no soundtrack
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.sample_videos import Line, Slide, make_video
from tests.conftest import ListReporter, assert_consistent, run_index
from xmodal_cli.collection import Collection, open_collection
from xmodal_cli.dupes import THRESHOLDS, find_dupes
from xmodal_cli.media import DecodeError
from xmodal_cli.media.video import FRAMES_PER_MINUTE, frame_at, read_frames
from xmodal_cli.search import make_filters, search_similar, search_text
from xmodal_cli.videos import analyse_video

SCENES = {"cat": 2, "coffee": 20, "rocket": 40, "motorcycle": 60}  # second each one starts


def _party(photos: Path) -> tuple[list[Slide], list[Line]]:
    slides = [
        Slide(0, 2, level=0),
        Slide(2, 18, photos / "chelsea.png"),
        Slide(20, 20, photos / "coffee.png"),
        Slide(40, 20, photos / "rocket.jpg"),
        Slide(60, 15, photos / "motorcycle_right.png"),
    ]
    lines = [Line(5, "the cat is asleep on the sofa"), Line(64, "we are moving to Lisbon")]
    return slides, lines


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, photo_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    slides, lines = _party(photo_dir)
    make_video(folder / "party.mp4", slides, lines, fps=5)
    make_video(folder / "copy.mov", slides, lines, fps=5, width=480, height=360)
    other = [
        Slide(0, 3, level=0),
        Slide(3, 12, photo_dir / "grace_hopper.jpg"),
        Slide(15, 12, photo_dir / "china.jpg"),
    ]
    make_video(folder / "other.mkv", other, fps=5, audio=False)
    return folder


@pytest.fixture(scope="module")
def indexed(
    clips: Path, lite_profile: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Collection]:
    folder = tmp_path_factory.mktemp("video-index")
    with open_collection(folder, create=True, write=True, profile=lite_profile) as col:
        reporter = ListReporter()
        summary = run_index(col, lite_profile, clips, reporter=reporter)
        assert summary.indexed == 3 and summary.skipped == 0, reporter.skips
        yield col


def test_frames_are_chosen_at_scene_changes_not_in_the_black(clips):
    stream, frames = read_frames(str(clips / "party.mp4"))
    times = [round(f.seconds) for f in frames]
    assert times == sorted(SCENES.values())
    assert stream.rejected["black"] >= 1  # the fade-in is looked at and left out
    assert stream.has_audio and stream.width == 320 and 74 <= (stream.duration or 0) <= 76


def test_blurred_blank_and_capped_frames_are_left_out(tmp_path, photo_dir):
    slides = [Slide(4 * n, 4, photo_dir / name) for n, name in enumerate(sorted(SKIMAGE_FEW))]
    slides += [Slide(24, 4, photo_dir / "astronaut.png", blur=True), Slide(28, 4, level=200)]
    path = make_video(tmp_path / "busy.webm", slides, fps=5, codec="libvpx-vp9", audio=False)
    stream, frames = read_frames(str(path), per_minute=3)
    assert [round(f.seconds) for f in frames] == [0, 4, 8]  # a cap of 3 a minute
    assert stream.rejected["cap"] == 3 and stream.rejected["blank"] == 1
    assert stream.rejected["blurred"] == 1
    _, uncapped = read_frames(str(path))
    assert [round(f.seconds) for f in uncapped] == [0, 4, 8, 12, 16, 20]
    assert FRAMES_PER_MINUTE >= 6


SKIMAGE_FEW = ("camera.png", "coins.png", "grace_hopper.jpg", "horse.png", "page.png", "china.jpg")


def _top(results, name):
    hit = next((r for r in results if Path(r.path).name == name), None)
    assert hit is not None, [(r.path, r.snippet) for r in results]
    return hit


@pytest.mark.parametrize(
    ("query", "scene"), [("a cup of coffee", "coffee"), ("a rocket launch", "rocket")]
)
def test_a_query_finds_the_second_by_what_is_seen(indexed, lite_profile, query, scene):
    found = search_text(
        query, vectors=indexed.vectors, profile=lite_profile, filters=make_filters(["video"])
    )
    assert Path(found[0].path).name in ("party.mp4", "copy.mov")
    start = found[0].as_dict()["start_seconds"]
    assert SCENES[scene] <= start < SCENES[scene] + 20, found[0].snippet
    assert found[0].snippet.startswith(f"{start // 60}:{start % 60:02d} ")


def test_a_query_finds_the_second_by_what_is_said(indexed, lite_profile):
    found = search_text("moving to Lisbon", vectors=indexed.vectors, profile=lite_profile)
    hit = _top(found, "party.mp4")
    assert found[0].type == "video" and hit.rank <= 2
    assert 60 <= hit.as_dict()["start_seconds"] <= 66
    assert "Lisbon" in hit.snippet and "“" in hit.snippet  # quoted: words heard
    cat = _top(
        search_text(
            "a cat asleep on the sofa",
            vectors=indexed.vectors,
            profile=lite_profile,
            filters=make_filters(["video"]),
        ),
        "party.mp4",
    )
    assert 0 <= cat.as_dict()["start_seconds"] < 20


def test_a_frame_still_finds_its_video_and_time(indexed, lite_profile, clips, tmp_path):
    still = tmp_path / "still.jpg"
    picture = frame_at(str(clips / "party.mp4"), 47.0, 320)
    assert picture is not None
    picture.save(still)
    found = search_similar(
        still, vectors=indexed.vectors, profile=lite_profile, filters=make_filters(["video"])
    )
    assert Path(found[0].path).name in ("party.mp4", "copy.mov")
    assert found[0].position == SCENES["rocket"] and found[0].space == "visual"


def test_every_video_hit_has_a_time_and_a_position(indexed, lite_profile):
    found = search_text("video", vectors=indexed.vectors, profile=lite_profile, limit=10)
    videos = [r.as_dict() for r in found if r.type == "video"]
    assert videos
    for row in videos:
        assert row["start_seconds"] >= 0 and isinstance(row["position"], int)
        assert json.loads(json.dumps(row)) == row


def test_copies_are_duplicates_and_a_shared_fade_in_is_not(indexed, lite_profile):
    groups = find_dupes(indexed.vectors, lite_profile.like_spaces, types=["video"])
    assert len(groups) == 1
    names = sorted(Path(m.path).name for m in groups[0].files)
    assert names == ["copy.mov", "party.mp4"]
    assert groups[0].keeper.endswith("copy.mov")  # the larger picture is kept
    # Both fade in from black, yet their frame vectors are far apart.
    party = _mean_visual(indexed, "party.mp4")
    other = _mean_visual(indexed, "other.mkv")
    assert float(party @ other) < THRESHOLDS["video"] - 0.1


def _mean_visual(col: Collection, name: str) -> np.ndarray:
    row = next(r for p, r in col.catalog.files().items() if p.endswith(name))
    stored = col.catalog.file_vectors(row.id, "visual", col.vectors.spaces["visual"])
    mean = stored.mean(axis=0)
    return mean / np.linalg.norm(mean)


def test_video_items_and_info(indexed):
    info = next(r.info for r in indexed.catalog.items_by_id(_ids(indexed, "other.mkv")).values())
    assert info["frames"] == 2 and info["width"] == 320 and "speech_seconds" not in info
    assert info["frames_left_out"]["black"] >= 1
    assert_consistent(indexed)


def _ids(col: Collection, name: str) -> list[int]:
    from tests.sql import sql

    rows = sql(
        col.catalog,
        "SELECT items.id FROM items JOIN files ON files.id = items.file_id WHERE files.path LIKE ?",
        f"%{name}",
    )
    return [r[0] for r in rows]


def test_bad_videos_are_skipped_with_reasons(tmp_path, clips, lite_profile):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.mp4").write_bytes(b"")
    (bad / "noise.avi").write_bytes(np.random.default_rng(1).bytes(50_000))
    (bad / "notes.mov").write_text("not a film at all\n" * 100)
    data = (clips / "party.mp4").read_bytes()
    (bad / "cut.mp4").write_bytes(data[: len(data) // 2])  # its index (moov) is at the end
    make_video(bad / "dark.webm", [Slide(0, 6, level=0)], fps=5, codec="libvpx-vp9", audio=False)
    shutil.copyfile(clips / "other.mkv", bad / "fine.mkv")
    whole = (clips / "other.mkv").read_bytes()
    (bad / "half.mkv").write_bytes(whole[: len(whole) * 2 // 3])  # Matroska plays to the cut
    reporter = ListReporter()
    with open_collection(tmp_path / "index", create=True, write=True, profile=lite_profile) as col:
        summary = run_index(col, lite_profile, bad, reporter=reporter)
        assert_consistent(col)
    reasons = reporter.reasons()
    assert reasons["empty.mp4"] == "empty file"
    assert reasons["noise.avi"].startswith("not a readable video")
    assert reasons["notes.mov"].startswith("not a readable video")
    assert reasons["cut.mp4"].startswith("not a readable video")
    assert reasons["dark.webm"].startswith("no usable frames or sound in the video")
    assert summary.indexed == 2 and summary.skipped == 5


def test_cancel_stops_between_frames(clips, lite_profile):
    with pytest.raises(DecodeError, match="cancelled"):
        analyse_video(str(clips / "party.mp4"), lite_profile, cancelled=lambda: True)


def test_frames_get_what_the_photo_pipeline_sees(tmp_path, photo_dir, lite_profile):
    """A screen recording of a printed page, then a portrait: the words on the page and the
    face come out as passages at the second of their frames, as they would for photos."""
    slides = [Slide(0, 10, photo_dir / "page.png"), Slide(10, 10, photo_dir / "grace_hopper.jpg")]
    path = make_video(tmp_path / "screen.mkv", slides, width=1280, height=720, fps=5, audio=False)
    video = analyse_video(str(path), lite_profile)
    by_second = {p.position: p.snippet for p in video.passages if p.position >= 0}
    assert by_second[0].startswith("reads “") and "coins" in by_second[0]
    assert "face" in by_second[10] or "person" in by_second[10]
    assert not list(Path(tempfile.gettempdir()).glob("xmodal-frame-*"))  # none left behind


def test_preview_draws_the_frame_at_the_moment(clips):
    from rich.console import Console

    from xmodal_cli.preview import HalfBlocks, video_frame

    dark, cat = (
        frame_at(str(clips / "party.mp4"), 0.5, 64),
        frame_at(str(clips / "party.mp4"), 9, 64),
    )
    assert np.asarray(dark).mean() < 10 < np.asarray(cat).mean()  # from the keyframe before
    console = Console(record=True, width=40, color_system="truecolor")
    drawn = video_frame(str(clips / "party.mp4"), 9, HalfBlocks)
    assert drawn is not None
    console.print(drawn)
    assert "▀" in console.export_text()
    assert video_frame(str(clips / "missing.mp4"), 9, HalfBlocks) is None
