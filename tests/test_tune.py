"""`xmodal tune`: the trainer finds a known map, tune keeps only adapters that help, the
adapter file is crash-safe, checked, repaired and removable, search uses it and `eval
--no-tune` does not, and every caption source is read from a real small file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner, Result

from bench import sample_sounds as sounds
from bench.sample_photos import SKIMAGE
from tests.conftest import RecordingProfile, run_index
from tests.documents import write_notes
from xmodal_cli import adapter
from xmodal_cli.captions import captions_of
from xmodal_cli.cli import app
from xmodal_cli.collection import Collection, open_collection
from xmodal_cli.evaluation import Pair
from xmodal_cli.models import SPACE_TEXT
from xmodal_cli.models.lite import LiteProfile
from xmodal_cli.training import TrainData, TrainOptions, apply_map, recall, train_map
from xmodal_cli.tuning import TuneOptions

runner = CliRunner()
DIM = 16


def xmodal(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args])


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _reflection(rng: np.random.Generator, dim: int, rank: int) -> np.ndarray:
    """I − 2·U·Uᵀ: a residual map of rank `rank` (and its own inverse)."""
    basis, _ = np.linalg.qr(rng.standard_normal((dim, rank)))
    return np.eye(dim) - 2 * basis @ basis.T


# -- the trainer ---------------------------------------------------------------------------


def test_the_trainer_finds_a_known_residual_map() -> None:
    rng = np.random.default_rng(1)
    candidates = _unit_rows(rng.standard_normal((200, DIM)))
    truth = _reflection(rng, DIM, 6)
    wanted = rng.integers(0, len(candidates), 300)
    queries = _unit_rows(candidates[wanted] @ truth.T + 0.03 * rng.standard_normal((300, DIM)))
    train, held = TrainData(queries, [np.array([w]) for w in wanted]).split(held_out=0.25)
    result = train_map(train, held, candidates, TrainOptions(rank=8, epochs=60))
    assert result.before["recall@1"] < 0.4  # the identity is far off
    assert result.after["recall@1"] >= 0.95 and result.improved
    mapped = apply_map(result.weights, held.queries)
    targets = candidates[[p[0] for p in held.positives]]
    before = float((held.queries * targets).sum(axis=1).mean())
    after = float((mapped * targets).sum(axis=1).mean())
    assert after > 0.75 and after > before + 0.3  # queries land on what they describe


def test_training_is_deterministic_and_a_linear_projection_learns_across_dimensions() -> None:
    rng = np.random.default_rng(2)
    candidates = _unit_rows(rng.standard_normal((40, DIM)))  # e.g. class names' text vectors
    mixing = rng.standard_normal((24, DIM))
    labels = rng.integers(0, 40, 240)
    features = candidates[labels] @ mixing.T + 0.05 * rng.standard_normal((240, 24))
    data = TrainData(features.astype(np.float32), [np.array([k]) for k in labels])
    train, held = data.split(held_out=0.2, seed=3)
    options = TrainOptions(kind="linear", epochs=40, learning_rate=1e-2, mine_all=True)
    first = train_map(train, held, candidates, options)
    again = train_map(train, held, candidates, options)
    assert first.after["recall@1"] >= 0.9
    assert apply_map(first.weights, features[:1]).shape == (1, DIM)
    for name, value in first.weights.items():
        np.testing.assert_array_equal(value, again.weights[name])


def test_recall_ranks_files_by_their_best_item() -> None:
    candidates = np.eye(4, dtype=np.float32)
    owners = np.array([0, 0, 1, 2])  # file 0 has two items
    query = np.array([[0.1, 0.9, 0.5, 0.0]], np.float32)
    assert recall(query, candidates, [np.array([0])], owners)["recall@1"] == 1.0
    assert recall(query, candidates, [np.array([2])], owners, ks=(1, 2))["recall@2"] == 1.0


# -- tune on a planted index -----------------------------------------------------------------


class PlantedQueries(RecordingProfile):
    """The recording fake, with query vectors chosen by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.planted: dict[str, np.ndarray] = {}

    def encode_query(self, text: str, spaces: frozenset[str]) -> dict[str, np.ndarray]:
        found = self.planted.get(text)
        return {SPACE_TEXT: found} if found is not None else super().encode_query(text, spaces)


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Collection, PlantedQueries, list[Path]]:
    rng = np.random.default_rng(0)
    photos = tmp_path / "photos"
    photos.mkdir()
    paths = []
    for i in range(60):
        path = photos / f"p{i:02d}.png"
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    profile = PlantedQueries()
    col = open_collection(tmp_path / "index", create=True, profile=profile)
    run_index(col, profile, photos)
    return col, profile, paths


def _image_vector(col: Collection, path: Path) -> np.ndarray:
    row = col.catalog.file_by_path(str(path))
    assert row is not None
    return col.catalog.file_vectors(row.id, SPACE_TEXT, DIM)[0]


def test_tune_finds_the_planted_adapter_and_search_uses_it(planted: Any) -> None:
    col, profile, paths = planted
    rng = np.random.default_rng(5)
    truth = _reflection(rng, DIM, 6)
    pairs = []
    for i, path in enumerate(paths):
        for variant in ("a", "b", "c"):  # three captions per photo, in vector space nearby
            text = f"photo {i} caption {variant}"
            noisy = truth @ _image_vector(col, path) + 0.03 * rng.standard_normal(DIM)
            profile.planted[text] = _unit_rows(noisy)
            pairs.append(Pair(text, (str(path),), "image"))
    # views=0: the fake encodes word-dropped captions as unrelated random vectors
    report = col.tune(pairs, options=TuneOptions(rank=8, epochs=60, views=0))
    (outcome,) = report.outcomes
    assert outcome.kept and outcome.after["recall@1"] >= 0.9
    assert outcome.after["recall@1"] - outcome.before["recall@1"] >= 0.3
    assert adapter.path_in(col.directory).exists()
    status = col.status()["adapter"]["maps"][0]
    assert (status["space"], status["type"], status["in_use"]) == (SPACE_TEXT, "image", True)
    query = "photo 7 caption a"
    assert col.search(query, limit=1)[0].path == str(paths[7])
    assert col.search(query, limit=1, tuned=False)[0].path != str(paths[7])
    # Only image queries are mapped: the same words searching notes are untouched.
    mapped = col._adapter
    assert mapped is not None and mapped[0] is not None
    vector = profile.planted[query]
    np.testing.assert_array_equal(mapped[0].apply(SPACE_TEXT, "text", vector), vector)
    assert col.reset_tune() and not adapter.path_in(col.directory).exists()
    assert col.search(query, limit=1)[0].path != str(paths[7])
    col.close()


def test_tune_refuses_an_adapter_that_cannot_beat_none(planted: Any) -> None:
    col, profile, paths = planted
    pairs = []
    for i, path in enumerate(paths):  # the queries already are the photos' own vectors
        profile.planted[f"exactly photo {i}"] = _image_vector(col, path)
        pairs.append(Pair(f"exactly photo {i}", (str(path),), "image"))
    report = col.tune(pairs, options=TuneOptions(epochs=10))
    (outcome,) = report.outcomes
    assert outcome.before["recall@1"] == 1.0 and not outcome.kept
    assert "does not beat" in outcome.reason
    assert not adapter.path_in(col.directory).exists()
    col.close()


def test_tune_holds_out_items_whose_own_words_hold_the_query(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    write_notes(notes)
    profile = RecordingProfile()
    with open_collection(tmp_path / "index", create=True, profile=profile) as col:
        run_index(col, profile, notes)
        files = sorted(col.catalog.files())
        first_words = {p: Path(p).read_text().split()[:4] for p in files}
        pairs = [Pair(" ".join(words), (p,), "text") for p, words in first_words.items()]
        report = col.tune(pairs, options=TuneOptions(min_pairs=1, epochs=2))
    (outcome,) = report.outcomes
    assert outcome.leaks >= len(files)  # each note's passage holds its own query


# -- the adapter file ----------------------------------------------------------------------


def _some_adapter(model_id: str, scale: float) -> adapter.Adapter:
    rng = np.random.default_rng(int(scale * 10))
    down = rng.standard_normal((2, DIM)).astype(np.float32)
    return adapter.Adapter(
        {(SPACE_TEXT, "image"): adapter.QueryMap(down, scale * down.T, model_id, {"pairs": 3})}
    )


def test_the_adapter_file_survives_a_kill_mid_write(tmp_path: Path) -> None:
    adapter.save(_some_adapter("m", 1.0), tmp_path)
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from tests.test_tune import _some_adapter;"
            "from xmodal_cli import adapter\n"
            "print('ready', flush=True)\n"
            "while True:\n"
            "    for s in (2.0, 3.0):\n"
            "        adapter.save(_some_adapter('m', s), Path(sys.argv[1]))",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parents[1],
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == b"ready"
    for _ in range(20):  # stop it at whatever point it has reached, several times
        writer.send_signal(signal.SIGSTOP)
        saved = adapter.load(tmp_path)  # never half a file
        assert saved is not None and saved.maps[(SPACE_TEXT, "image")].down.shape == (2, DIM)
        writer.send_signal(signal.SIGCONT)
    writer.kill()
    writer.wait()
    assert adapter.load(tmp_path) is not None
    leftover = [p for p in os.listdir(tmp_path) if p.startswith(".adapter.npz-")]
    assert len(leftover) <= 1  # a killed write leaves at most its temp file


# -- through the command line, on real photos with the real offline models -----------------


@pytest.fixture(scope="module")
def photo_index(tmp_path_factory: pytest.TempPathFactory, photo_dir: Path) -> Path:
    index = tmp_path_factory.mktemp("tune-index")
    assert xmodal("index", photo_dir, "--quiet", "--index-dir", index).exit_code == 0
    return index


def _caption_pairs(photo_dir: Path, target: Path) -> Path:
    rows = [
        {"query": text, "paths": [str(photo_dir / name)], "type": "image"}
        for name, text in sorted(SKIMAGE.items())
        if (photo_dir / name).exists()
    ]
    target.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return target


def _planted_adapter(index: Path, query: np.ndarray) -> None:
    """An adapter that sends `query` (and queries like it) to the page of text (rank 1)."""
    status = json.loads(xmodal("status", "--json", "--index-dir", index).stdout)
    with open_collection(index, models=False) as col:
        rows = {p: r for p, r in col.catalog.files().items() if p.endswith("page.png")}
        (page,) = rows.values()
        target = col.catalog.file_vectors(page.id, SPACE_TEXT, 384)[0]
    down = query[None, :].astype(np.float32)
    up = (target * 400.0)[:, None].astype(np.float32)
    model_id = status["models"][SPACE_TEXT]
    maps = {(SPACE_TEXT, "image"): adapter.QueryMap(down, up, model_id, {"pairs": 1})}
    maps[(SPACE_TEXT, "image")].figures = {
        "pairs": 1,
        "held_out": 1,
        "before": {"recall@1": 0.0, "recall@5": 0.0},
        "after": {"recall@1": 1.0, "recall@5": 1.0},
    }
    adapter.save(adapter.Adapter(maps), index)


def test_search_and_eval_use_the_adapter_and_eval_no_tune_ignores_it(
    photo_index: Path, photo_dir: Path, tmp_path: Path, lite_profile: LiteProfile
) -> None:
    pairs = _caption_pairs(photo_dir, tmp_path / "pairs.jsonl")
    plain = json.loads(xmodal("eval", pairs, "--json", "--index-dir", photo_index).stdout)
    cat = ("search", "a tabby cat", "-t", "image", "--paths", "--index-dir", photo_index)
    assert not xmodal(*cat).stdout.splitlines()[0].endswith("page.png")
    _planted_adapter(photo_index, lite_profile.encode_texts(["a tabby cat"])[0])
    assert xmodal(*cat).stdout.splitlines()[0].endswith("page.png")
    notes = xmodal("search", "a tabby cat", "-t", "text", "--index-dir", photo_index)
    assert notes.exit_code == 0  # text queries have no map: untouched
    tuned = json.loads(xmodal("eval", pairs, "--json", "--index-dir", photo_index).stdout)
    untuned = json.loads(
        xmodal("eval", pairs, "--no-tune", "--json", "--index-dir", photo_index).stdout
    )
    assert untuned["all"] == plain["all"] != tuned["all"]
    status = xmodal("status", "--index-dir", photo_index)
    assert "Adapter" in status.stdout and "in use" in status.stdout
    reset = xmodal("tune", "--reset", "--index-dir", photo_index)
    assert reset.exit_code == 0 and "removed the adapter" in reset.stderr
    assert "no adapter" in xmodal("tune", "--reset", "--index-dir", photo_index).stderr
    assert json.loads(xmodal("eval", pairs, "--json", "--index-dir", photo_index).stdout) == plain


def test_check_reports_a_corrupt_adapter_and_repair_removes_it(photo_index: Path) -> None:
    (photo_index / adapter.FILE_NAME).write_bytes(b"PK\x03\x04 not really a zip")
    result = xmodal("check", "--json", "--index-dir", photo_index)
    assert result.exit_code == 1
    codes = [p["code"] for p in json.loads(result.stdout)["problems"]]
    assert codes == ["adapter-corrupt"]
    found = xmodal("search", "a cat", "-n", "1", "--paths", "--index-dir", photo_index)
    assert found.exit_code == 0 and found.stdout  # search ignores the unreadable file
    repaired = xmodal("check", "--repair", "--json", "--index-dir", photo_index)
    assert repaired.exit_code == 0 and not (photo_index / adapter.FILE_NAME).exists()


def test_tune_cli_refuses_with_the_figures_and_json(
    photo_index: Path, photo_dir: Path, tmp_path: Path
) -> None:
    few = tmp_path / "few.jsonl"
    few.write_text("".join(_caption_pairs(photo_dir, few).read_text().splitlines(True)[:5]))
    result = xmodal("tune", few, "--json", "--index-dir", photo_index)
    assert result.exit_code == 1 and "no adapter saved" in result.stderr
    (row,) = json.loads(result.stdout)["adapters"]
    assert (row["pairs"], row["kept"]) == (5, False) and "usable pairs" in row["reason"]
    assert not (photo_index / adapter.FILE_NAME).exists()


# -- caption sources, each from a real small file --------------------------------------------

XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
 xmlns:dc="http://purl.org/dc/elements/1.1/"><rdf:Description rdf:about="">
 <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{description}</rdf:li></rdf:Alt>
 </dc:description><dc:subject><rdf:Bag><rdf:li>beach</rdf:li><rdf:li>dog</rdf:li></rdf:Bag>
 </dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>"""


def _photo(path: Path, **save: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), (200, 120, 40)).save(path, **save)
    return path


def test_sidecar_text_and_caption_files(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "DCIM" / "100CANON" / "IMG_0042.jpg")
    (photo.parent / "IMG_0042.txt").write_text("grandma's birthday cake\n")
    (photo.parent / "IMG_0042.jpg.caption").write_text("candles on a chocolate cake")
    texts = {(c.text, c.source) for c in captions_of(str(photo), "image")}
    assert texts == {
        ("grandma's birthday cake", "sidecar"),
        ("candles on a chocolate cake", "sidecar"),
    }
    names = [c.text for c in captions_of(str(photo), "image", names=True) if c.source == "name"]
    assert names == []  # 'IMG 0042' in '100CANON' says nothing


def test_xmp_sidecar_and_embedded_packet(tmp_path: Path) -> None:
    embedded = XMP.format(description="a dog running on the beach").encode()
    photo = _photo(tmp_path / "dog.jpg", xmp=embedded)
    (tmp_path / "dog.xmp").write_text(XMP.format(description="our dog Rex at the sea"))
    found = [c.text for c in captions_of(str(photo), "image") if c.source == "xmp"]
    assert found == ["our dog Rex at the sea", "beach, dog", "a dog running on the beach"]


def test_exif_description_and_user_comment(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010E] = "sunset over the harbour"
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\x00\x00\x00fishing boats coming home"
    photo = _photo(tmp_path / "harbour.jpg", exif=exif)
    found = [c.text for c in captions_of(str(photo), "image") if c.source == "exif"]
    assert found == ["sunset over the harbour", "fishing boats coming home"]
    camera = Image.Exif()
    camera[0x010E] = "OLYMPUS DIGITAL CAMERA"
    assert captions_of(str(_photo(tmp_path / "c.jpg", exif=camera)), "image") == []


def test_google_takeout_json(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "Photos from 2019" / "PXL_20190704.jpg")
    meta = {"title": "PXL_20190704.jpg", "description": "fireworks on the fourth of July"}
    Path(f"{photo}.json").write_text(json.dumps(meta))
    found = captions_of(str(photo), "image", names=True)
    assert [(c.text, c.source) for c in found] == [
        ("fireworks on the fourth of July", "takeout"),
        ("Photos from 2019", "name"),
    ]


def test_audio_tags(tmp_path: Path) -> None:
    import mutagen

    song = sounds.write(tmp_path / "farm" / "rooster.flac", sounds.tone(440, 1.0))
    tagged = mutagen.File(str(song), easy=True)
    tagged["title"] = "rooster crowing at dawn"
    tagged["artist"] = "farm recordings"
    tagged.save()
    found = [(c.text, c.source) for c in captions_of(str(song), "audio", names=True)]
    assert found == [("rooster crowing at dawn", "tags"), ("rooster", "name"), ("farm", "name")]


def test_tune_without_pairs_reads_captions_of_indexed_files(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    _photo(photos / "a.jpg")
    (photos / "a.txt").write_text("a sandcastle")  # indexed as a text file too
    index = tmp_path / "index"
    assert xmodal("index", photos, "--quiet", "--index-dir", index).exit_code == 0
    result = xmodal("tune", "--json", "--index-dir", index)
    assert result.exit_code == 1  # one pair is too few to learn from, and it says so
    (row,) = json.loads(result.stdout)["adapters"]
    assert (row["type"], row["pairs"]) == ("image", 1)  # the note is not a photo's rival
