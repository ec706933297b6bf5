"""Faces in a photo, said in words the text space understands: never who, nor gender or age.

dlib's HOG frontal-face detector (built into the `dlib-bin` wheel, no weights file) runs on
the whole picture at FACE_SIDE px. What comes out is a count and how much of the picture
the largest face fills, turned into a few phrasings: "a photo of a person" and "a portrait
photo of a person, a face"; "a photo of two people"; "a group photo of people". OpenCV's
Haar cascades were tried and dropped: about 10x slower here, and they saw faces in coins
and in Van Gogh's sky where HOG saw none (notes: issue12-ocr-people.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

FACE_SIDE = 320  # px, longer side, the detector looks at (faces from ~1/8 of it are found)
MIN_SCORE = 0.0  # dlib's own decision threshold; raised if real photos show false alarms
CLOSE_UP = 0.25  # the largest face's height over the picture's: a close-up above this
PORTRAIT = 0.10  # … a portrait above this (one person)
PERSON = "a photo of a person"
MODEL_ID = f"people(dlib-hog@{FACE_SIDE}px,v2)"


@dataclass(frozen=True)
class Faces:
    """What the detector found: how many faces, and the largest one's share of the height."""

    count: int
    largest: float

    def words(self) -> tuple[list[str], str] | None:
        """(phrasings, each encoded as a passage; what the snippet shows), or None without
        faces. Several phrasings: a file is found by its best passage, and "a portrait",
        "a photo of a person" and "a close-up of a face" each meet one of them closely."""
        if self.count == 0:
            return None
        if self.count == 1:
            if self.largest >= CLOSE_UP:
                return [PERSON, "a portrait, a close-up of a person's face"], "a face, close up"
            if self.largest >= PORTRAIT:
                return [PERSON, "a portrait photo of a person, a face"], "a person (portrait)"
            return [PERSON], "a person"
        if self.count == 2:
            return ["a photo of two people", "a photo of people, a couple"], "two people"
        group = ["a group photo of people", "a photo of a crowd of people"]
        return group, f"a group of {self.count}"


class FaceFinder:
    """Thread-safe front to dlib's detector (one per thread: it keeps scratch state)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _detector(self) -> Any:
        found = getattr(self._local, "detector", None)
        if found is None:
            import dlib

            found = self._local.detector = dlib.get_frontal_face_detector()
        return found

    def find(self, rgb: np.ndarray) -> Faces:
        """Faces in a picture whose longer side is at most FACE_SIDE px."""
        gray = np.ascontiguousarray(
            (rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114).astype(np.uint8)
        )
        boxes, scores, _ = self._detector().run(gray, 0, MIN_SCORE)
        heights = [box.height() for box, score in zip(boxes, scores, strict=True)]
        if not heights:
            return Faces(0, 0.0)
        return Faces(len(heights), max(heights) / gray.shape[0])
