"""Words inside images (PP-OCRv4 from the `rapidocr-onnxruntime` wheel), behind a cheap gate.

PP-OCR's detector at full size costs hundreds of milliseconds, several times what the rest
of indexing spends on a photo. So every image first gets one detector pass at GATE_SIDE px
(the whole picture, a few milliseconds): only when enough of that small probability map
looks like text is the picture read at READ_SIDE (detection, then recognition of each line).
Text lines become passages of the image in the text space; a photo without text costs the
gate only. GATE_SHARE was chosen on the tuning set of bench/ocr_cost.py (rendered pages in
the DejaVu fonts, opencv-doc's sample pictures) and reported on other images.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np

from xmodal_cli.errors import XmodalError

ENGINE = "pp-ocrv4"
GATE_SIDE = 224  # px, longer side, for the gate's detector pass (multiple of 32)
GATE_THRESHOLD = 0.3  # a pixel of the probability map counts as text above this
GATE_SHARE = 0.003  # read the picture when at least this share of the small map is text
FLAT_SHARE = 0.6  # a picture this flat (models/sight.py) gets a second gate pass …
FLAT_GATE_SIDE = 512  # … at this size: dialog text at 16 px is gone at 224
READ_SIDE = 1280  # px, longer side, the picture is read at
MIN_CONFIDENCE = 0.6  # recognised lines below this are dropped (mostly texture read as glyphs)
MAX_LINES = 80  # a dense page: enough words to find it by, a bounded index per image
MODEL_ID = f"ocr({ENGINE},gate={GATE_SIDE}px>{GATE_SHARE},flat={FLAT_GATE_SIDE}px,tidy)"


@dataclass(frozen=True)
class Line:
    """One line of text read, top to bottom order, with the recogniser's confidence."""

    text: str
    confidence: float


class TextReader:
    """Thread-safe: each decode thread gets its own single-threaded engine (the rapidocr
    objects keep per-call state)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _engine(self) -> Any:
        engine = getattr(self._local, "engine", None)
        if engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except (ImportError, OSError) as exc:  # OpenCV without libGL.so.1, say
                raise XmodalError(
                    f"cannot load the text reader ({exc})",
                    "install libgl1 (apt) or index with --no-ocr",
                ) from None

            # One thread per engine: the decode pool is the parallelism. "max" never scales
            # a small picture up (the default, "min" 736, enlarges a 200 px icon 4x).
            engine = RapidOCR(
                intra_op_num_threads=1,
                inter_op_num_threads=1,
                det_limit_type="max",
                det_limit_side_len=READ_SIDE,
                text_score=MIN_CONFIDENCE,
            )
            self._local.engine = engine
        return engine

    def text_share(self, rgb: np.ndarray) -> float:
        """Share of a small picture (longer side ≤ GATE_SIDE) that the detector calls text."""
        height, width = rgb.shape[:2]
        # The detector wants sides that are multiples of 32; pad (never stretch) to them.
        padded_h, padded_w = -(-height // 32) * 32, -(-width // 32) * 32
        canvas = np.zeros((padded_h, padded_w, 3), dtype=np.float32)
        canvas[:height, :width] = rgb[:, :, ::-1] / 127.5 - 1.0  # BGR, scaled to [-1, 1]
        batch = canvas.transpose(2, 0, 1)[None]
        probs = self._engine().text_det.infer(batch)[0][0, 0, :height, :width]
        return float(np.mean(probs > GATE_THRESHOLD))

    def read(self, rgb: np.ndarray) -> list[Line]:
        """The lines of text in a picture (longer side ≤ READ_SIDE), top to bottom."""
        found, _ = self._engine()(np.ascontiguousarray(rgb[:, :, ::-1]), use_cls=False)
        lines = []
        for box, text, confidence in found or ():
            text = " ".join(str(text).split())
            if float(confidence) >= MIN_CONFIDENCE and sum(c.isalnum() for c in text) >= 2:
                top = min(float(point[1]) for point in box)
                left = min(float(point[0]) for point in box)
                lines.append((round(top / 8), left, Line(text, float(confidence))))
        lines.sort(key=lambda entry: (entry[0], entry[1]))  # reading order, roughly
        return [line for _, _, line in lines[:MAX_LINES]]


# PP-OCR's recogniser often drops the spaces of small Latin text ("acopyofthisLicense") and
# reads O as 0 inside words ("INV0ICE"): tidy() undoes both before the words are encoded.
# fmt: off
SHORT_WORDS = frozenset({  # function words of up to three letters
    "a", "of", "in", "to", "is", "as", "on", "it", "by", "at", "an", "be", "my", "or",
    "me", "up", "no", "we", "so", "if", "do", "us", "go", "he", "the", "and", "for", "you",
    "any", "are", "was", "not", "but", "all", "can", "may", "its", "our", "has", "had", "per",
    "nor", "who", "how", "one", "two", "off", "out", "via", "yet", "his", "her", "see",
})
FUNCTION_WORDS = SHORT_WORDS | {
    "with", "from", "this", "that", "into", "than", "they", "them", "will", "each", "such",
    "also", "only", "what", "when", "your", "have", "been", "were", "which", "there",
    "their", "these", "those", "other", "under", "shall", "must", "where",
}
# fmt: on
GLUED = 9  # a run of letters this long that is not a word is split into words
_BOUNDS = re.compile(
    r"(?<=[A-Za-z]{3})(?=\d{2})|(?<=\d{2})(?=[A-Za-z]{3})"  # INVOICE5179, Studio10
    r"|(?<=[a-z]{2})(?=[A-Z][a-z])"  # thisLicense
    r"|(?<=[A-Za-z]{2}[.,;:!?)])(?=[A-Za-z]{2})"  # work,andto
)


def tidy(text: str) -> str:
    """Words as a person would type them: glued words split, digits apart from words."""
    out = []
    for token in _BOUNDS.sub(" ", unicodedata.normalize("NFKC", text)).split():
        if len(token) >= 4 and "0" in token and token.replace("0", "").isalpha():
            token = token.replace("0", "O" if token.isupper() else "o")
        out += _split_run(token)
    return " ".join(out)


def _split_run(token: str) -> list[str]:
    run = re.fullmatch(r"([^A-Za-z]*)([A-Za-z]+)([^A-Za-z]*)", token)
    if run is None or len(run[2]) < GLUED or run[2].lower() in _words():
        return [token]
    letters, lower, costs = run[2], run[2].lower(), _words()
    # Fewest, most common words covering the run; an unknown stretch costs by its length.
    best: list[tuple[float, int]] = [(0.0, 0)] + [(float("inf"), 0)] * len(lower)
    for end in range(1, len(lower) + 1):
        for start in range(max(0, end - 24), end):
            piece = lower[start:end]
            cost = costs.get(piece, 5.0 + 0.5 * len(piece))
            if best[start][0] + cost < best[end][0]:
                best[end] = (best[start][0] + cost, start)
    cuts, end = [], len(lower)
    while end:
        cuts.append(end)
        end = best[end][1]
    bounds = [0, *reversed(cuts)]
    pieces = [letters[a:b] for a, b in itertools.pairwise(bounds)]
    # A rare word split into syllables ("segment at ion") is worse than the word left whole:
    # glued text is words joined by small common ones ("recipients a copy of").
    plausible = all(len(p) >= 4 or p.lower() in SHORT_WORDS for p in pieces)
    if len(pieces) < 2 or not plausible or not any(p.lower() in FUNCTION_WORDS for p in pieces):
        return [token]
    return [run[1] + pieces[0], *pieces[1:-1], pieces[-1] + run[3]]


@functools.cache
def _words() -> dict[str, float]:
    """The text encoder's whole words, each with a cost: 1, plus up to 1 for rare ones, plus
    3 for one or two letters that are seldom words on their own."""
    from xmodal_cli.models import minilm

    vocab = json.loads((minilm.model_dir() / "tokenizer.json").read_text("utf-8"))["model"]
    words = [w for w in vocab["vocab"] if w.isascii() and w.isalpha()]
    return {
        w: 1.0 + rank / len(words) + (3.0 if len(w) <= 3 and w not in SHORT_WORDS else 0.0)
        for rank, w in enumerate(words)
    }


def passages_of(lines: list[Line], words: int) -> list[str]:
    """Lines joined into passages of about `words` words each (a sign is one passage)."""
    out: list[str] = []
    current: list[str] = []
    for line in lines:
        current += tidy(line.text).split()
        if len(current) >= words:
            out.append(" ".join(current))
            current = []
    if current:
        out.append(" ".join(current))
    return out
