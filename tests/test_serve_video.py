"""`xmodal serve` with videos and --min-relevance: `type=video` (API and page), the moment a
video hit starts at (a player and a link at that time), and `min_relevance` filtering as the
CLI's option does. A real MP4 (H.264 + AAC, espeak-ng speech after a minute) in a real
index: the fake model "hears" words in the second minute's block, so they are at 60 s."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from bench.sample_videos import Line, Slide, make_video
from tests.conftest import RecordingProfile
from tests.documents import write_notes
from tests.test_serve import CHROMEDRIVER, running
from xmodal_cli import server
from xmodal_cli.collection import open_collection
from xmodal_cli.indexer import IndexOptions
from xmodal_cli.media.text import title_words
from xmodal_cli.search import make_filters

TOKEN = "test-token-video-0123456789"
SPOKEN_AT = 62
HEARD_AT = 60  # the start of the block the words are in (recordings.BLOCK_SECONDS)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, photo_dir: Path) -> dict[str, Any]:
    """A fake-model index of a video, a few photos and the notes."""
    root = tmp_path_factory.mktemp("video-library")
    photos, notes, videos = root / "photos", root / "notes", root / "videos"
    photos.mkdir()
    for name in ("chelsea.png", "coffee.png", "rocket.jpg"):
        shutil.copyfile(photo_dir / name, photos / name)
    write_notes(notes)
    slides = [Slide(0, 30, photo_dir / "chelsea.png"), Slide(30, 40, photo_dir / "coffee.png")]
    make_video(videos / "party.mp4", slides, [Line(SPOKEN_AT, "happy birthday")], fps=2)
    directory = root / "index"
    with open_collection(directory, write=True, create=True, profile=RecordingProfile()) as col:
        summary = col.index([photos, notes, videos], options=IndexOptions(workers=2))
    assert summary.indexed == 3 + len(list(notes.iterdir())) + 1
    return {"dir": directory, "video": videos / "party.mp4"}


@pytest.fixture(scope="module")
def client(library: dict[str, Any]) -> Iterator[TestClient]:
    app = server.make_app(library["dir"], token=TOKEN, profile=RecordingProfile())
    with TestClient(app, headers={"X-Xmodal-Token": TOKEN}) as test_client:
        yield test_client


QUERY = f"{title_words('party.mp4')}: fake words heard"  # what the fake model "hears"


def test_api_finds_videos_by_type_with_the_moment(client, library):
    found = client.get("/api/search", params={"q": QUERY, "type": "video", "n": 5}).json()
    assert [r["type"] for r in found] == ["video"]
    (hit,) = found
    assert hit["path"] == str(library["video"])
    assert hit["start_seconds"] == HEARD_AT, hit
    everything = client.get("/api/search", params={"q": QUERY, "n": 5}).json()
    assert everything[0]["path"] == str(library["video"])  # and among all types, first


def test_page_plays_a_video_from_the_moment_found(client, library):
    page = client.get("/", params={"q": QUERY, "type": "video"})
    assert page.status_code == 200
    assert '<video controls muted preload="metadata" src="/file?path=' in page.text
    assert f'data-start="{HEARD_AT}"' in page.text and f"#t={HEARD_AT}" in page.text
    assert ">at 1:00</a> · “<mark>fake</mark> <mark>words</mark> <mark>heard</mark>”" in page.text
    assert '<option value="video" selected>' in page.text  # the type menu offers videos
    served = client.get("/file", params={"path": str(library["video"])})
    assert served.status_code == 200 and served.headers["content-type"] == "video/mp4"


def test_a_video_format_a_browser_cannot_play_gets_a_download_link():
    mkv = server.card(server.Result(1, 0.5, "video", "/v/a.mkv", "0:30 cat", "visual", 30))
    assert not mkv["playable"] and mkv["clock"] == "0:30" and mkv["media_url"].endswith("#t=30")
    assert mkv["said"] == "cat" and mkv["snippet"] == "0:30 cat"
    webm = server.card(server.Result(1, 0.5, "video", "/v/a.webm", "frame", "visual", 0))
    assert webm["playable"] and webm["clock"] == "0:00" and "#t=" not in webm["media_url"]


def test_min_relevance_filters_as_the_cli_option_does(client, library):
    def api(**params: Any) -> list[dict[str, Any]]:
        response = client.get("/api/search", params={"q": "fake caption 1", "n": 20, **params})
        assert response.status_code == 200, response.text
        return list(response.json())

    default, everything = api(), api(min_relevance=0)
    with open_collection(library["dir"], profile=RecordingProfile()) as col:
        for floor, shown in ((None, default), (0.0, everything)):
            filters = make_filters(min_relevance=floor)
            expected = col.search("fake caption 1", limit=20, filters=filters)
            assert [r["path"] for r in shown] == [r.path for r in expected]
    assert len(everything) > len(default)  # the default floor hides other types' closest
    middle = sorted(r["relevance"] for r in everything)[len(everything) // 2]
    kept = api(min_relevance=middle)
    assert kept and all(r["relevance"] >= middle for r in kept) and len(kept) < len(everything)
    page = client.get("/", params={"q": "fake caption 1", "min_relevance": middle}).text
    assert page.count('class="card ') == len(kept)
    assert f'name="min_relevance" value="{middle}"' in page


@pytest.mark.parametrize("value", ["2", "-0.1", "much"])
def test_min_relevance_out_of_range_is_a_usage_error(client, value):
    response = client.get("/api/search", params={"q": "x", "min_relevance": value})
    assert response.status_code == 400
    body = response.json()
    assert "min_relevance" in body["error"] and body["hint"]


def test_check_finds_a_video_index_whole(library):
    with open_collection(library["dir"], profile=RecordingProfile()) as col:
        report = col.check()
    assert report.ok, report.as_dict()  # the lexical rows of transcripts and notes included


@pytest.fixture
def live_server(library: dict[str, Any]) -> Iterator[str]:
    with running(library["dir"], TOKEN) as url:
        yield url


@pytest.mark.skipif(not os.path.exists(CHROMEDRIVER), reason="needs chromium-driver (make setup)")
def test_a_real_browser_plays_the_video_from_the_moment_found(live_server):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        browser.get(f"{live_server}/?{urlencode({'token': TOKEN, 'q': QUERY, 'type': 'video'})}")
        video = WebDriverWait(browser, 60).until(
            lambda b: b.find_element(By.CSS_SELECTOR, ".card.video video")
        )
        browser.execute_script("arguments[0].play();", video)
        WebDriverWait(browser, 60).until(
            lambda b: b.execute_script("return !arguments[0].paused", video)
        )
        at = browser.execute_script("return arguments[0].currentTime", video)
        assert HEARD_AT - 0.5 <= at < HEARD_AT + 10, at  # from the words, not from 0:00
    finally:
        browser.quit()
