"""More words for what the classifier sees: each ImageNet class's WordNet hypernyms.

The 1,000 classes are WordNet synsets; data/imagenet_hypernyms.txt (bench/hypernyms.py, from
Debian's wordnet-base 3.0, pinned) lists the everyday names of each class's ancestors,
nearest first: a golden retriever is a retriever, a dog, a domestic animal, an animal. Mixing
the nearest few into each class's text vector lets a generic query ("a dog", "a bird", "a
tool") reach photos of every specific class under it, which ConSE alone only does where
MiniLM happens to know that a "Brittany spaniel" is a dog.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from xmodal_cli.models import conse

DATA = Path(__file__).parent / "data" / "imagenet_hypernyms.txt"


@functools.cache
def hypernyms() -> list[list[str]]:
    """Per ImageNet class (in class order), its ancestors' names, nearest first."""
    lines = DATA.read_text("utf-8").splitlines()
    return [[w for w in line.split("|") if w] for line in lines]


def label_embeddings(
    labels: list[str],
    encode: Callable[[list[str]], np.ndarray],
    cache: Path | None = None,
    *,
    variant: str = "float",
    count: int,
    weight: float,
) -> np.ndarray:
    """(classes, dim) unit vectors: each class's own ConSE vector plus `weight` times the
    mean vector of its `count` nearest hypernyms (both cached on disk like conse's)."""
    own = conse.label_embeddings(labels, encode, cache, variant=variant)
    if count <= 0 or weight <= 0:
        return own
    chains = hypernyms()
    if len(chains) != len(labels):
        raise ValueError(f"{len(chains)} hypernym lines for {len(labels)} classes")
    words = sorted({w for chain in chains for w in chain[:count]})
    at = {w: i for i, w in enumerate(words)}
    vectors = conse.label_embeddings(words, encode, cache, variant=variant)
    out = own.copy()
    for i, chain in enumerate(chains):
        if chain[:count]:
            out[i] += weight * vectors[[at[w] for w in chain[:count]]].mean(axis=0)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out
