"""Encoders and profiles. A profile is a named set of vector spaces and how to fill them.

Heavy libraries (torch, onnxruntime) are imported inside the functions that need them so
that `xmodal --help` and `xmodal status` stay fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from xmodal_cli.models.whisper import Transcript

SPACE_TEXT = "text"  # shared semantic space: text passages, and images mapped into words
SPACE_VISUAL = "visual"  # image appearance, for image -> image similarity
SPACE_ACOUSTIC = "acoustic"  # how a sound sounds, for audio -> audio similarity


@dataclass
class ImageEncoding:
    """Vectors per space for a batch of images, plus a short caption per image."""

    vectors: dict[str, np.ndarray]
    captions: list[str]


class Profile(Protocol):
    """What the indexer and searcher need from a model set; tests pass recording fakes."""

    name: str
    variant: str  # "int8" or "float": how its nets run; part of model_ids
    spaces: dict[str, int]  # space name -> vector dimension
    model_ids: dict[str, str]  # recorded in the index; a mismatch refuses to open it
    image_size: int
    text_space: str  # where passages, transcripts and descriptions are stored
    like_spaces: dict[str, str]  # type -> the space `similar` compares two files of that type in
    sound_rate: int | None  # sample rate encode_sounds() wants; None: no learned audio space
    sound_window: float  # seconds of audio per encode_sounds() window
    passage_words: int  # text is cut into passages this long: what the text encoder reads

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Unit vectors in `text_space` for passages (and, in text-only profiles, queries)."""
        ...

    def encode_query(self, text: str, spaces: frozenset[str]) -> dict[str, np.ndarray]:
        """A text query as one unit vector per space in `spaces` (all of them supported)."""
        ...

    def query_spaces(self, modality: str) -> tuple[str, ...]:
        """The spaces in which a text query meets files of `modality`."""
        ...

    def encode_sounds(self, windows: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Unit vectors per learned audio space for windows at `sound_rate` ({} if none)."""
        ...

    def encode_images(self, pixels: np.ndarray) -> ImageEncoding:
        """Unit vectors for a uint8 batch (n, size, size, 3) in every image space."""
        ...

    def transcribe(
        self, samples: np.ndarray, cancelled: Callable[[], bool] = lambda: False
    ) -> Transcript:
        """Speech heard in mono 16 kHz samples (none for music, tones and noise); gives up
        early, with what it heard so far, once `cancelled()` says so."""
        ...


def load_profile(
    name: str = "lite",
    *,
    device: str = "cpu",
    model_path: Path | None = None,
    model_ids: dict[str, str] | None = None,
    read_text: bool | None = None,
) -> Profile:
    """Build the named profile (weights load lazily on first use).

    `model_ids` are what an existing index records: when they are exactly one variant's, that
    variant is built, so an index never mixes float and INT8 vectors; otherwise the default
    (INT8 on a CPU, float on CUDA). `read_text` (words in images, off with `index
    --no-ocr`) follows the ids likewise, else is on. Hub profiles need their files on this
    machine (the Hugging Face cache, or `model_path`); without them this fails with the
    command that fetches them."""
    from xmodal_cli.models import registry

    spec = registry.spec(name)
    if not spec.models:
        from xmodal_cli.models import lite

        if read_text is None:
            read_text = lite.reads_text_of(model_ids) is not False
        return lite.LiteProfile(
            device=device, variant=lite.variant_of(model_ids), read_text=read_text
        )
    folders = registry.require(spec, model_path)
    from xmodal_cli.models import ocr
    from xmodal_cli.models.hub import HubProfile

    if read_text is None:  # an index made before hub profiles read text keeps not reading it
        read_text = model_ids is None or ocr.MODEL_ID in model_ids.get(spec.name, "")
    return HubProfile(spec, folders, device=device, read_text=read_text)


def typical_queries() -> list[str]:
    """A few hundred queries people type: everyday phrases and "a photo of a …" for each
    ImageNet class family (every third class). Approximate indexes tune their search
    breadth on these, encoded by the index's own profile."""
    data = Path(__file__).parent / "data"
    phrases = (data / "typical_queries.txt").read_text("utf-8").splitlines()
    labels = (data / "imagenet_labels.txt").read_text("utf-8").splitlines()
    return [p for p in phrases if p] + [f"a photo of a {lab.split(',')[0]}" for lab in labels[::3]]
