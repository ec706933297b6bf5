"""The offline default profile: MiniLM text space + EfficientNet-Lite0 (ConSE and visual).

Two variants. "int8" (the default on a CPU) runs MiniLM quantised to INT8: ~2x the passages/s,
rankings unchanged within one query of 52 (bench/int8_quality.py). EfficientNet-Lite0 stays
float in both: static INT8 (per-channel, MinMax) left its pooled features at cosine 0.74 to
float even when calibrated on the test photos themselves, so no calibration set would save it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_cli import config
from xmodal_cli.models import (
    SPACE_ACOUSTIC,
    SPACE_TEXT,
    SPACE_VISUAL,
    ImageEncoding,
    acoustic,
    conse,
    efficientnet,
    hypernyms,
    minilm,
    multilingual,
    ocr,
    people,
    registry,
    sfx,
)
from xmodal_cli.models.sight import GLANCE_SIDE, ImageWords, Picture
from xmodal_cli.models.whisper import Transcriber, Transcript
from xmodal_cli.recordings import Passage

# Tuned for text -> image retrieval on the sample photos (bench/text_to_image_eval.py): a broad
# mix (many classes, flattened probabilities) beats a sharp one. Changing them changes vectors,
# so they are part of the recorded model id.
CONSE_TOP_K = 50
CONSE_TEMPERATURE = 2.0
# Each class's nearest WordNet hypernym, at half weight, mixed into its text vector
# (hypernyms.py; chosen on bench/hypernyms_eval.py's tuning words): "a bird" reaches herons.
HYPERNYMS = 1
HYPERNYM_WEIGHT = 0.5
HYPERNYM_ID = f"hypernyms(n={HYPERNYMS},w={HYPERNYM_WEIGHT})"
VARIANTS = ("int8", "float")


def model_ids(variant: str, read_text: bool = True) -> dict[str, str]:
    """What an index built by this variant records: INT8 marks each space whose vectors come
    from a quantised net; the people and text-in-image passages (models/sight.py) are named
    in the text space's id, so `index --no-ocr` is recorded and one index never mixes."""
    text = _text_id(variant) + f"+{people.MODEL_ID}" + (f"+{ocr.MODEL_ID}" if read_text else "")
    text += f"+{HYPERNYM_ID}"  # the class vectors ConSE mixes changed with it
    # Recordings also go into the `sound` space (models/sfx.py), which `similar` compares in.
    return _ids(variant, text) | {sfx.SPACE: sfx.SOUND_MODEL_ID}


def _text_id(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"unknown lite variant {variant!r}")
    return f"{minilm.MODEL_ID}+conse(k={CONSE_TOP_K},t={CONSE_TEMPERATURE})"


def previous_ids(variant: str) -> dict[str, str]:
    """The ids of the release before people and OCR: an index recording them is upgraded in
    place, keeping its variant."""
    return _ids(variant, _text_id(variant))


def _ids(variant: str, text: str) -> dict[str, str]:
    return {
        # Passages, queries and the ConSE class vectors all come from MiniLM.
        SPACE_TEXT: f"{text}@int8" if variant == "int8" else text,
        SPACE_VISUAL: efficientnet.MODEL_ID,  # the image net is float in both variants
        SPACE_ACOUSTIC: acoustic.MODEL_ID,
    }


def variant_of(ids: dict[str, str] | None) -> str | None:
    """The variant whose ids (this release's, with or without OCR, or the previous
    release's) are exactly `ids`, or None (none given, or another revision)."""
    known = [(v, i) for v in VARIANTS for i in (*_this_release(v), previous_ids(v))]
    return next((v for v, i in known if i == ids), None)


def _this_release(variant: str) -> list[dict[str, str]]:
    """The ids this release records, with and without OCR, and as it did before the
    `sound` space (such an index gains it for the files indexed from then on)."""
    current = [model_ids(variant), model_ids(variant, False)]
    return current + [{k: v for k, v in i.items() if k != sfx.SPACE} for i in current]


def reads_text_of(ids: dict[str, str] | None) -> bool | None:
    """Whether an index with these ids reads text in images; None if they do not say."""
    for variant in VARIANTS:
        for index, known in enumerate(_this_release(variant)):
            if known == ids:
                return index % 2 == 0
    return None


class LiteProfile:
    """Everything from PyPI wheels: works offline, on CPU, with no model hub."""

    name = "lite"
    image_size = efficientnet.IMAGE_SIZE
    text_space = SPACE_TEXT
    passage_words = registry.PROFILES["lite"].passage_words

    def __init__(
        self,
        device: str = "auto",
        variant: str | None = None,
        cache: Path | None = None,
        *,
        read_text: bool = True,
    ) -> None:
        self.device = device
        self.cache = cache or config.cache_dir()
        if variant is None:
            variant = "int8" if config.resolve_device(device) == "cpu" else "float"
        self.variant = variant
        self.like_spaces = {
            "image": SPACE_VISUAL,
            "audio": sfx.SPACE,  # the aiSFX embedding fused with the acoustic statistics
            "text": SPACE_TEXT,
            "video": SPACE_VISUAL,  # a video is like another by its frames
        }
        # The acoustic space comes from the 16 kHz analysis itself; the `sound` space from
        # 30-second windows at 44.1 kHz (encode_sounds).
        self.sound_rate: int | None = sfx.SAMPLE_RATE
        self.sound_window = 30.0
        self.spaces = {
            SPACE_TEXT: minilm.DIM,
            SPACE_VISUAL: efficientnet.FEATURE_DIM,
            SPACE_ACOUSTIC: acoustic.DIM,
            sfx.SPACE: sfx.SOUND_DIM,
        }
        self.read_text = read_text  # False: `index --no-ocr`
        self.model_ids = model_ids(variant, read_text)
        self._sight = ImageWords(read_text=read_text, passage_words=self.passage_words)
        self.glance_side = GLANCE_SIDE  # the whole picture image_passages looks at first
        # Created here (it loads lazily, under its own lock): two decode threads must not
        # each build a Whisper model.
        self._transcriber = Transcriber(device)
        self._translator = multilingual.Translator()  # queries in other languages
        self._text: minilm.OnnxTextEncoder | None = None
        self._loading = threading.RLock()  # the nets load once, whichever thread asks first
        self._vision: efficientnet.OnnxEfficientNet | efficientnet.EfficientNetLite0 | None = None
        self._labels: list[str] | None = None
        self._label_vectors: np.ndarray | None = None

    def text_encoder(self) -> minilm.OnnxTextEncoder:
        with self._loading:
            if self._text is None:
                # INT8 runs on the CPU even on a CUDA machine: an INT8 index stays INT8.
                self._text = minilm.OnnxTextEncoder(self.cache, int8=self.variant == "int8")
            return self._text

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return self.text_encoder().encode(texts)

    def encode_query(self, text: str, spaces: frozenset[str]) -> dict[str, np.ndarray]:
        # English as it always was; other languages through USE and a map (multilingual.py)
        vector = multilingual.query_vector(text, self.encode_texts, self._translator)
        return {SPACE_TEXT: vector}

    def query_spaces(self, modality: str) -> tuple[str, ...]:
        return (SPACE_TEXT,)  # images and recordings are mapped into words

    def encode_sounds(self, windows: list[np.ndarray]) -> dict[str, np.ndarray]:
        with self._loading:  # decode threads: one network, built by whichever asks first
            space = sfx.shared_space()
        return {sfx.SPACE: space.encode(windows)}

    def _vision_parts(self) -> tuple[Any, list[str], np.ndarray]:
        with self._loading:  # videos encode frames in decode threads: load once
            return self._load_vision()

    def _load_vision(self) -> tuple[Any, list[str], np.ndarray]:
        if self._vision is None:
            device = config.resolve_device(self.device)
            # onnxruntime on the CPU (no torch import: fast cold `similar`); torch on a GPU.
            self._vision = (
                efficientnet.OnnxEfficientNet(self.cache)
                if device == "cpu"
                else efficientnet.EfficientNetLite0(device)
            )
            self._labels = efficientnet.labels()
            self._label_vectors = hypernyms.label_embeddings(
                self._labels,
                self.encode_texts,
                self.cache,
                variant=self.variant,
                count=HYPERNYMS,
                weight=HYPERNYM_WEIGHT,
            )
        assert self._labels is not None and self._label_vectors is not None
        return self._vision, self._labels, self._label_vectors

    def encode_images(self, pixels: np.ndarray) -> ImageEncoding:
        vision, labels, label_vectors = self._vision_parts()
        probs, features = vision.forward(pixels)
        semantic = conse.conse_vectors(
            probs, label_vectors, top_k=CONSE_TOP_K, temperature=CONSE_TEMPERATURE
        )
        features /= np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
        return ImageEncoding(
            vectors={SPACE_TEXT: semantic, SPACE_VISUAL: features},
            captions=conse.captions(probs, labels),
        )

    def image_passages(self, picture: Picture, small: np.ndarray | None = None) -> list[Passage]:
        """The people in a picture (a path, or its pixels) and the words written in it, as
        passages (decoder.py asks every profile that has this method, in the decode threads,
        handing over the whole picture at `glance_side` that it decoded with the photo)."""
        return self._sight.passages(picture, small)

    def transcribe(
        self, samples: np.ndarray, cancelled: Callable[[], bool] = lambda: False
    ) -> Transcript:
        return self._transcriber.transcribe(samples, cancelled)
