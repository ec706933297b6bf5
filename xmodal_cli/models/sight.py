"""What an image gets besides its classifier vector: passages saying who is in it (as a
count, never who) and the words written in it, found on the whole picture in the decode
thread. Each becomes a text-space item of the image: a search for "a group of people" or
"invoice 4471" meets it like a note's passage, and the snippet shows what was seen."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xmodal_cli.media.glance import glance
from xmodal_cli.models import ocr, people
from xmodal_cli.recordings import Passage

PEOPLE = -1  # the position of an image's people passage; words read are at 1, 2, …
SNIPPET_CHARS = 120
GLANCE_SIDE = people.FACE_SIDE  # the whole picture the decoder keeps for this module

# A picture: a file's path, or its whole pixels (a video frame, a rendered page) as RGB.
Picture = str | np.ndarray


class ImageWords:
    """Passages for one picture; `read_text=False` is `index --no-ocr`; `find_people=False`
    for models that see people in the picture's own vector (CLIP, SigLIP)."""

    def __init__(self, *, read_text: bool, passage_words: int, find_people: bool = True) -> None:
        self.faces = people.FaceFinder() if find_people else None
        self.reader = ocr.TextReader() if read_text else None
        self.passage_words = passage_words

    def passages(self, picture: Picture, small: np.ndarray | None = None) -> list[Passage]:
        """`small`: the whole picture at GLANCE_SIDE when the caller has it (decode_image's
        `whole`); a path is read again only for the larger sizes text is read at."""
        look = _looker(picture, small)
        small = look(people.FACE_SIDE)
        out = []
        said = self.faces.find(small).words() if self.faces is not None else None
        if said is not None:
            out += [Passage(PEOPLE, text, said[1]) for text in said[0]]
        if self.reader is not None and self._worth_reading(look, small):
            lines = self.reader.read(look(ocr.READ_SIDE))
            for number, text in enumerate(ocr.passages_of(lines, self.passage_words), 1):
                out.append(Passage(number, text, _quoted(text)))
        return out

    def _worth_reading(self, look: Callable[[int], np.ndarray], small: np.ndarray) -> bool:
        """The gate: the detector on the picture at GATE_SIDE; a flat picture (a screenshot,
        a scan: most pixels one colour) whose small text vanishes at that size gets a second
        look at FLAT_GATE_SIDE."""
        assert self.reader is not None
        if self.reader.text_share(_fit(small, ocr.GATE_SIDE)) >= ocr.GATE_SHARE:
            return True
        if flat_share(small) < ocr.FLAT_SHARE:
            return False
        return self.reader.text_share(look(ocr.FLAT_GATE_SIDE)) >= ocr.GATE_SHARE


def _looker(picture: Picture, small: np.ndarray | None) -> Callable[[int], np.ndarray]:
    """The picture at a longer side of at most N px: scaled from memory where the pixels
    held are enough, else (a path) read again."""

    def look(side: int) -> np.ndarray:
        if isinstance(picture, np.ndarray):
            return _fit(picture, side)
        if small is not None and side <= GLANCE_SIDE:
            return _fit(small, side)
        return glance(picture, side)

    return look


def flat_share(rgb: np.ndarray) -> float:
    """Share of pixels within one grey level of the commonest: 0.9 for a dialog window,
    0.7 for a page; 0.65 at most for the photos of the tuning set (a horse's silhouette)."""
    grey = rgb.astype(np.uint16).sum(axis=2) // 3
    counts = np.bincount(grey.ravel(), minlength=256)
    peak = int(counts.argmax())
    return float(counts[max(0, peak - 1) : peak + 2].sum() / grey.size)


def _fit(rgb: np.ndarray, side: int) -> np.ndarray:
    scale = side / max(rgb.shape[:2])
    if scale >= 1:
        return rgb
    from PIL import Image

    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))


def _quoted(text: str) -> str:
    short = text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rstrip() + "…"
    return f"reads “{short}”"
