"""`xmodal serve`: every route over HTTP (token, cookie, JSON keys, hostile paths), the
thumbnail cache, a real browser against a real uvicorn server, and `index --watch`."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from starlette.testclient import TestClient
from typer.testing import CliRunner

from tests.conftest import RecordingProfile
from tests.documents import write_notes
from xmodal_cli import render, server
from xmodal_cli.cli import app as cli_app
from xmodal_cli.collection import Collection, open_collection
from xmodal_cli.indexer import IndexOptions, IndexSummary
from xmodal_cli.media.text import title_words
from xmodal_cli.thumbnails import FOLDER, ThumbnailCache
from xmodal_cli.watching import batch_roots, watch

TOKEN = "test-token-0123456789"
OPTIONS = IndexOptions(batch_size=4, workers=2)


def _recording(path: Path) -> None:
    """70 s: a minute of silence, then a tone the fake profile 'hears' words in (at 60 s)."""
    rate = 16_000
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(10 * rate) / rate)
    soundfile.write(path, np.concatenate([np.zeros(60 * rate), tone]).astype(np.float32), rate)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, photo_dir: Path) -> dict[str, Any]:
    """An index (fake models) of real photos, notes and a recording."""
    root = tmp_path_factory.mktemp("library")
    photos, notes, sounds = root / "photos", root / "notes", root / "recordings"
    shutil.copytree(photo_dir, photos)
    write_notes(notes)
    sounds.mkdir()
    _recording(sounds / "team meeting.wav")
    (sounds / "old.aiff").write_bytes(b"")  # not decodable: skipped, never indexed
    directory = root / "index"
    profile = RecordingProfile()
    with open_collection(directory, write=True, create=True, profile=profile) as col:
        col.index([photos, notes, sounds], options=OPTIONS)
    return {"dir": directory, "root": root, "photos": photos, "notes": notes, "sounds": sounds}


@pytest.fixture(scope="module")
def client(library: dict[str, Any]) -> Iterator[TestClient]:
    app = server.make_app(library["dir"], token=TOKEN, profile=RecordingProfile())
    with TestClient(app, headers={"X-Xmodal-Token": TOKEN}) as test_client:
        yield test_client


def _reader(library: dict[str, Any]) -> Collection:
    return open_collection(library["dir"], profile=RecordingProfile())


def _cli_json(capsys: pytest.CaptureFixture[str], rows: list[Any]) -> Any:
    """What `--json` prints for these rows (render.results, as the CLI calls it)."""
    capsys.readouterr()
    render.results(rows, "json")
    return json.loads(capsys.readouterr().out)


def _photo(library: dict[str, Any]) -> str:
    return str(sorted(library["photos"].glob("*.*"))[0])


# -- the API --------------------------------------------------------------------------------
def test_api_search_returns_exactly_what_the_cli_prints(client, library, capsys):
    response = client.get("/api/search", params={"q": "fake caption 0", "n": 5})
    assert response.status_code == 200
    assert response.headers["server-timing"].startswith("search;dur=")
    with _reader(library) as col:
        expected = _cli_json(capsys, col.search("fake caption 0", limit=5))
    assert response.json() == expected and len(expected) == 5


def test_api_search_takes_the_grammar_and_the_filters(client, library, capsys):
    params = {"q": '"sunset" + "2:beach" - "people"', "type": "image", "ext": "png", "n": 3}
    found = client.get("/api/search", params=params).json()
    assert found and {r["type"] for r in found} == {"image"}
    assert all(r["path"].endswith(".png") for r in found)
    under = client.get("/api/search", params={"q": "note", "under": str(library["notes"])}).json()
    assert under and all(r["path"].startswith(str(library["notes"])) for r in under)


def test_api_audio_result_has_start_seconds(client, library):
    query = f"{title_words('team meeting.wav')}: fake words heard"
    found = client.get("/api/search", params={"q": query, "type": "audio", "n": 1}).json()
    assert found[0]["path"].endswith("team meeting.wav") and found[0]["start_seconds"] == 60


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": ""}, "the query is empty"),
        ({"q": '"beach" + sunset'}, "cannot tell whether"),
        ({"q": "x", "after": "someday"}, "--after"),
        ({"q": "x", "type": "film"}, "unknown type 'film'"),
        ({"q": "x", "n": "many"}, "n='many' is not a number"),
        ({"q": "x", "sort": "colour"}, "unknown sort order"),
    ],
)
def test_api_usage_errors_are_json_with_the_cli_messages_and_hints(client, params, message):
    response = client.get("/api/search", params=params)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "hint"} and message in body["error"] and body["hint"]


def test_api_similar_leaves_the_file_out_and_matches_the_cli(client, library, capsys):
    photo = _photo(library)
    response = client.get("/api/similar", params={"path": photo, "n": 4})
    assert response.status_code == 200
    with _reader(library) as col:
        expected = _cli_json(capsys, col.similar(Path(photo), limit=4))
    assert response.json() == expected and photo not in {r["path"] for r in expected}


@pytest.mark.parametrize("path", ["", "/etc/passwd", "relative.jpg"])
def test_api_similar_is_for_indexed_files_only(client, path):
    response = client.get("/api/similar", params={"path": path})
    assert response.status_code == (400 if not path else 404)
    assert set(response.json()) == {"error", "hint"}


def test_api_status_is_the_status_json(client, library, capsys):
    body = client.get("/api/status").json()
    with _reader(library) as col:
        capsys.readouterr()
        render.status(col.status(), as_json=True)
        expected = json.loads(capsys.readouterr().out)
    assert body == expected and body["files"] >= 5


def test_api_dupes_lists_groups(client, library):
    response = client.get("/api/dupes", params={"type": "image"})
    assert response.status_code == 200 and isinstance(response.json(), list)


# -- the token ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "route", ["/", "/dupes", "/api/search?q=x", "/api/status", "/file", "/thumb", "/static/app.js"]
)
@pytest.mark.parametrize("token", [None, "wrong", TOKEN[:-1]])
def test_every_route_refuses_a_missing_or_wrong_token(library, route, token):
    app = server.make_app(library["dir"], token=TOKEN, profile=RecordingProfile())
    with TestClient(app) as anonymous:
        headers = {"X-Xmodal-Token": token} if token else {}
        responses = [
            anonymous.get(route, headers=headers),
            anonymous.get(route + ("&" if "?" in route else "?") + f"token={token or ''}"),
        ]
        if token:
            anonymous.cookies.set("xmodal_token_8765", token)
            responses.append(anonymous.get(route))
        for response in responses:
            assert response.status_code == 403
            assert response.json()["error"] == "missing or wrong token"


def test_the_first_visit_moves_the_token_into_a_strict_http_only_cookie(library):
    app = server.make_app(library["dir"], token=TOKEN, profile=RecordingProfile())
    with TestClient(app) as browser:
        first = browser.get(f"/?q=sunset&token={TOKEN}", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/?q=sunset"
        cookie = first.headers["set-cookie"]
        assert f"xmodal_token_8765={TOKEN}" in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        page = browser.get("/?q=sunset")  # the cookie alone now
        assert page.status_code == 200 and '<ol class="results">' in page.text
        assert browser.get("/api/status").status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "no-referrer"


def test_api_takes_the_token_in_the_url_without_a_redirect(library):
    app = server.make_app(library["dir"], token=TOKEN, profile=RecordingProfile())
    with TestClient(app) as curl:
        response = curl.get(f"/api/search?q=note&token={TOKEN}", follow_redirects=False)
        assert response.status_code == 200 and isinstance(response.json(), list)


# -- the page -------------------------------------------------------------------------------
def test_page_shows_thumbnails_players_and_highlighted_passages(client, library):
    images = client.get("/", params={"q": "fake caption", "type": "image"}).text
    assert images.count('<img src="/thumb?path=') >= 3 and "More like this" in images
    query = f"{title_words('team meeting.wav')}: fake words heard"
    audio = client.get("/", params={"q": query, "type": "audio"}).text
    assert 'data-start="60"' in audio and "#t=60" in audio and "1:00" in audio
    assert "<mark>fake</mark>" in audio
    text = client.get("/", params={"q": "budget", "type": "text"}).text
    assert "<blockquote>" in text


def test_page_escapes_what_it_shows(client):
    page = client.get("/", params={"q": "<script>alert(1)</script>"})
    assert page.status_code == 200 and "<script>alert(1)</script>" not in page.text


def test_page_more_like_this_and_errors(client, library):
    photo = _photo(library)
    like = client.get("/", params={"like": photo})
    assert like.status_code == 200 and "Files like" in like.text
    bad = client.get("/", params={"q": "x", "after": "someday"})
    assert bad.status_code == 400 and "Hint:" in bad.text and 'role="alert"' in bad.text
    home = client.get("/")
    assert home.status_code == 200 and "files indexed" in home.text


def test_dupes_page(client):
    page = client.get("/dupes", params={"type": "image"})
    assert page.status_code == 200 and "groups" in page.text


def test_formats_a_browser_cannot_play_get_a_download_link():
    result = server.Result(1, 0.5, "audio", "/music/a.wma", "tone", "acoustic", 12)
    card = server.card(result)
    assert not card["playable"] and card["download_url"].endswith("download=1")
    assert server.card(server.Result(1, 0.5, "audio", "/m/a.ogg", "", "acoustic", 0))["playable"]


# -- files: only indexed ones ---------------------------------------------------------------
def test_file_serves_an_indexed_file_with_ranges(client, library):
    wav = str(library["sounds"] / "team meeting.wav")
    whole = client.get("/file", params={"path": wav})
    assert whole.status_code == 200 and whole.headers["content-type"].startswith("audio/")
    assert whole.headers["content-security-policy"] == "sandbox"
    part = client.get("/file", params={"path": wav}, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    note = next(p for p in library["notes"].iterdir() if p.suffix in (".md", ".txt"))
    text = client.get("/file", params={"path": str(note), "download": "1"})
    assert text.headers["content-type"].startswith("text/plain")
    assert text.headers["content-disposition"].startswith("attachment")


def test_hostile_paths_are_refused(client, library):
    photo = _photo(library)
    for path in (
        "/etc/passwd",
        f"{library['photos']}/../../../../etc/passwd",
        f"{library['photos']}/./{Path(photo).name}",
        f"{library['photos']}//{Path(photo).name}",
        os.path.relpath(photo),
        Path(photo).name,
        photo + "\0.jpg",
        str(library["dir"] / "catalog.db"),
        str(library["sounds"] / "old.aiff"),  # there, but never indexed
        "",
    ):
        for route in ("/file", "/thumb"):
            response = client.get(route, params={"path": path})
            assert response.status_code == 404, (route, path)
            assert set(response.json()) == {"error", "hint"}


def test_symlinks_out_of_the_indexed_folders_are_refused(tmp_path, photo_dir):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("private key")
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "key.txt").write_text("a harmless note")
    (root / "note.txt").write_text("another harmless note")
    linked_root = tmp_path / "linked"
    linked_root.symlink_to(root)  # a root that is itself a link is fine
    directory = tmp_path / "index"
    with open_collection(directory, write=True, create=True, profile=RecordingProfile()) as col:
        col.index([linked_root], options=OPTIONS)
    app = server.make_app(directory, token=TOKEN, profile=RecordingProfile())
    with TestClient(app, headers={"X-Xmodal-Token": TOKEN}) as http:
        note, inner = str(linked_root / "note.txt"), str(linked_root / "sub" / "key.txt")
        assert http.get("/file", params={"path": note}).text == "another harmless note"
        assert http.get("/file", params={"path": inner}).status_code == 200
        # After indexing, a file and a folder are swapped for links out of the roots.
        (root / "note.txt").unlink()
        (root / "note.txt").symlink_to(secret / "key.txt")
        shutil.rmtree(root / "sub")
        (root / "sub").symlink_to(secret)
        for path in (note, inner):
            response = http.get("/file", params={"path": path})
            assert response.status_code == 404 and "private" not in response.text
        os.mkfifo(root / "note.txt.fifo")
        (root / "note.txt").unlink()
        os.rename(root / "note.txt.fifo", root / "note.txt")  # would block a plain open()
        assert http.get("/file", params={"path": note}).status_code == 404


# -- thumbnails -----------------------------------------------------------------------------
def test_thumbnails_are_made_once_cached_beside_the_index_and_checked_clean(client, library):
    photo = _photo(library)
    first = client.get("/thumb", params={"path": photo})
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert first.content[:2] == b"\xff\xd8"
    cached = list((library["dir"] / FOLDER).iterdir())
    assert cached and not [p for p in cached if p.name.startswith(".")]
    assert client.get("/thumb", params={"path": photo}).content == first.content
    wav = str(library["sounds"] / "team meeting.wav")
    assert client.get("/thumb", params={"path": wav}).status_code == 404
    with _reader(library) as col:
        assert col.check().ok  # the cache folder is not a problem for `xmodal check`


def test_thumbnail_cache_stays_within_its_limit(tmp_path, library):
    cache = ThumbnailCache(tmp_path, limit=30_000)
    with _reader(library) as col:
        rows = [r for r in col.catalog.files().values() if r.modality == "image"]
    for row in rows:
        with open(row.path, "rb") as source:
            assert cache.get(row, source)[:2] == b"\xff\xd8"
    assert len(rows) > 5 and 0 < cache.size() <= 30_000


def test_thumbnails_go_with_their_files_and_crash_leftovers(tmp_path, photo_dir):
    photos = tmp_path / "photos"
    shutil.copytree(photo_dir, photos)
    directory = tmp_path / "index"
    with open_collection(directory, write=True, create=True, profile=RecordingProfile()) as col:
        col.index([photos], options=OPTIONS)
    app = server.make_app(directory, token=TOKEN, profile=RecordingProfile())
    victim, kept = sorted(str(p) for p in photos.iterdir())[:2]
    with TestClient(app, headers={"X-Xmodal-Token": TOKEN}) as http:
        for path in (victim, kept):
            assert http.get("/thumb", params={"path": path}).status_code == 200
    cache = directory / FOLDER
    (cache / ".thumb-crashed.tmp").write_bytes(b"half a jpeg")
    assert len(list(cache.iterdir())) == 3
    os.unlink(victim)
    with open_collection(directory, write=True, profile=RecordingProfile()) as col:
        col.index([photos], options=OPTIONS)  # the deleted photo leaves the index
    assert len(list(cache.iterdir())) == 1


# -- updates while serving ------------------------------------------------------------------
def test_the_server_sees_a_concurrent_index_without_restarting(tmp_path, photo_dir):
    photos = tmp_path / "photos"
    photos.mkdir()
    first, *rest = sorted(photo_dir.iterdir())
    shutil.copy(first, photos)
    directory = tmp_path / "index"
    with open_collection(directory, write=True, create=True, profile=RecordingProfile()) as col:
        col.index([photos], options=OPTIONS)
    app = server.make_app(directory, token=TOKEN, profile=RecordingProfile())
    with TestClient(app, headers={"X-Xmodal-Token": TOKEN}) as http:
        assert http.get("/api/status").json()["files"] == 1
        for photo in rest[:3]:
            shutil.copy(photo, photos)
        with open_collection(directory, write=True, profile=RecordingProfile()) as col:
            col.index([photos], options=OPTIONS)
        assert http.get("/api/status").json()["files"] == 4
        found = http.get("/api/search", params={"q": "anything", "n": 10}).json()
        assert {Path(r["path"]).name for r in found} == {p.name for p in [first, *rest[:3]]}


# -- the command ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_command_prints_the_url_warns_on_all_interfaces_and_opens_only_if_asked(
    monkeypatch, tmp_path
):
    import webbrowser

    import uvicorn

    ran: list[dict[str, Any]] = []
    opened: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: ran.append(kw))
    monkeypatch.setattr(webbrowser, "open", opened.append)
    monkeypatch.setattr(server.Shelf, "warm", lambda self: None)
    port = _free_port()
    runner = CliRunner()
    quiet = runner.invoke(cli_app, ["serve", "--port", str(port), "--index-dir", str(tmp_path)])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout.startswith(f"http://127.0.0.1:{port}/?token=") and not opened
    assert ran[-1]["host"] == "127.0.0.1" and "Warning" not in quiet.stderr
    wide = runner.invoke(
        cli_app,
        ["serve", "--host", "0.0.0.0", "--port", str(port), "--open", "--index-dir", str(tmp_path)],
    )
    assert wide.exit_code == 0 and "Warning: listening on 0.0.0.0" in wide.stderr
    assert opened == [wide.stdout.strip()]


def test_serve_without_the_extra_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = CliRunner().invoke(cli_app, ["serve", "--index-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "Error: xmodal serve needs uvicorn" in result.stderr
    assert "pip install 'xmodal[serve]'" in result.stderr


def test_serve_refuses_a_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            cli_app, ["serve", "--port", str(port), "--index-dir", str(tmp_path)]
        )
    assert result.exit_code == 1 and f"--port {port + 1}" in result.stderr


# -- index --watch --------------------------------------------------------------------------
def test_batch_roots_are_the_nearest_existing_folders(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    roots = [str(tmp_path)]
    changed = [f"{tmp_path}/a/b/x.jpg", f"{tmp_path}/a/y.jpg", f"{tmp_path}/gone/deep/z.jpg"]
    assert batch_roots(changed, roots) == [str(tmp_path)]
    assert batch_roots(changed[:2], roots) == [f"{tmp_path}/a"]
    assert batch_roots(["/elsewhere/x.jpg"], roots) == []


def test_watch_indexes_a_burst_of_new_files_in_one_batch(tmp_path, photo_dir):
    watched = tmp_path / "camera"
    watched.mkdir()
    directory = tmp_path / "index"
    profile = RecordingProfile()
    with open_collection(directory, write=True, create=True, profile=profile) as col:
        col.index([watched], options=OPTIONS)
    batches: list[tuple[IndexSummary, list[str]]] = []
    done, stop = threading.Event(), threading.Event()

    def on_batch(summary: IndexSummary, folders: list[str]) -> None:
        batches.append((summary, folders))
        done.set()

    runner = threading.Thread(
        target=watch,
        args=(directory, [watched]),
        kwargs={
            "profile": profile,
            "options": OPTIONS,
            "on_batch": on_batch,
            "stop": stop,
            "quiet": 1.5,
        },
    )
    runner.start()
    try:
        import time

        time.sleep(0.5)  # let the observer start watching before the burst
        photos = sorted(photo_dir.iterdir())[:4]
        for photo in photos:
            shutil.copy(photo, watched)
        (watched / "trip.md").write_text("Notes from the trip to the coast.")
        assert done.wait(60)
    finally:
        stop.set()
        runner.join(30)
    assert len(batches) == 1
    summary, folders = batches[0]
    assert summary.indexed == 5 and folders == [str(watched)]
    with open_collection(directory, write=True, profile=profile) as col:
        assert col.roots() == [str(watched)]  # `xmodal index --watch` alone resumes these
        assert col.status()["files"] == 5


# -- a real browser -------------------------------------------------------------------------
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def live_server(library: dict[str, Any]) -> Iterator[str]:
    with running(library["dir"], TOKEN) as url:
        yield url


@contextlib.contextmanager
def running(directory: Path, token: str) -> Iterator[str]:
    """The app under a real uvicorn on a free port, in a thread; its base URL."""
    import uvicorn

    port = _free_port()
    app = server.make_app(directory, token=token, port=port, profile=RecordingProfile())
    app.state.shelf.warm()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    while not uvicorn_server.started and thread.is_alive():
        threading.Event().wait(0.05)
    yield f"http://127.0.0.1:{port}"
    uvicorn_server.should_exit = True
    thread.join(30)


@pytest.mark.skipif(not os.path.exists(CHROMEDRIVER), reason="needs chromium-driver (make setup)")
def test_in_a_real_browser(live_server, library, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    options = webdriver.ChromeOptions()
    for argument in (
        "--headless=new",
        "--no-sandbox",  # as root in a container
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1200,900",
    ):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    wait = WebDriverWait(browser, 60)
    try:
        browser.get(f"{live_server}/?token={TOKEN}")
        assert "token" not in browser.current_url  # moved into the cookie
        box = browser.find_element(By.ID, "q")
        assert browser.switch_to.active_element == box  # the search box has the focus
        Select(browser.find_element(By.NAME, "type")).select_by_value("image")
        box.send_keys("fake caption", Keys.ENTER)
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".card.image img")) >= 3)
        loaded = (
            "return Array.from(document.images)"
            ".filter(i => i.complete && i.naturalWidth > 0).length"
        )
        wait.until(lambda b: b.execute_script(loaded) >= 3)
        first = browser.find_element(By.CSS_SELECTOR, ".card.image img")
        assert browser.execute_script("return arguments[0].naturalWidth", first) > 0
        shot = tmp_path / "xmodal-serve.png"
        browser.save_screenshot(str(shot))
        print(f"screenshot: {shot}")
        assert shot.stat().st_size > 10_000

        browser.find_element(By.TAG_NAME, "body").send_keys("j")  # keyboard: first result
        selected = browser.find_element(By.CSS_SELECTOR, ".card").get_attribute("class")
        assert "current" in (selected or "")

        query = f"{title_words('team meeting.wav')}: fake words heard"
        box = browser.find_element(By.ID, "q")
        box.clear()
        Select(browser.find_element(By.NAME, "type")).select_by_value("audio")
        box.send_keys(query, Keys.ENTER)
        audio = wait.until(lambda b: b.find_element(By.CSS_SELECTOR, ".card.audio audio"))
        assert audio.get_attribute("data-start") == "60"
        browser.execute_script("arguments[0].muted = true; arguments[0].play();", audio)
        wait.until(lambda b: b.execute_script("return !arguments[0].paused", audio))
        at = browser.execute_script("return arguments[0].currentTime", audio)
        assert 59.5 <= at < 70, at  # playing from where the words were heard
        heard = browser.find_element(By.CSS_SELECTOR, ".card.audio .heard").text
        assert "fake words heard" in heard and "1:00" in heard
    finally:
        browser.quit()
