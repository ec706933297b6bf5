"""ConSE (Norouzi et al., ICLR 2014): an image's vector in the text space is the
probability-weighted mix of the text embeddings of its most likely ImageNet classes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

PROMPT = "a photo of a {}."
SYNONYMS = 2  # first lemmas carry the common names; later ones are often Latin


def label_prompts(labels: list[str], synonyms: int = SYNONYMS) -> list[list[str]]:
    """Prompt sentences per class, one per leading synonym."""
    prompts = []
    for label in labels:
        names = [n.strip() for n in label.split(",") if n.strip()][:synonyms]
        prompts.append([PROMPT.format(n) for n in names])
    return prompts


def label_embeddings(
    labels: list[str],
    encode: Callable[[list[str]], np.ndarray],
    cache: Path | None = None,
    *,
    variant: str = "float",
) -> np.ndarray:
    """(classes, dim) unit vectors: mean of each class's prompt embeddings, cached on disk
    per `variant` of the text encoder (INT8 and float give different vectors)."""
    prompts = label_prompts(labels)
    text = "\n".join("|".join(p) for p in prompts)
    # The float key is what it always was, so existing caches stay valid.
    text = text if variant == "float" else f"{variant}\n{text}"
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    path = cache / f"conse-labels-{key}.npy" if cache else None
    if path is not None and path.exists():
        cached: np.ndarray = np.load(path)
        return cached
    flat = [p for group in prompts for p in group]
    vectors = encode(flat)
    out = np.zeros((len(prompts), vectors.shape[1]), dtype=np.float32)
    row = 0
    for i, group in enumerate(prompts):
        out[i] = vectors[row : row + len(group)].mean(axis=0)
        row += len(group)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    if path is not None:
        _cache(out, path)
    return out


def _cache(vectors: np.ndarray, path: Path) -> None:
    """Best effort: a full disk or read-only cache only costs recomputing next time."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".conse-", suffix=".npy", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, vectors)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def conse_vectors(
    probs: np.ndarray, label_vectors: np.ndarray, *, top_k: int, temperature: float
) -> np.ndarray:
    """Unit vectors: top-k class embeddings weighted by sharpened, renormalised probabilities."""
    k = min(top_k, probs.shape[1])
    top = np.argpartition(-probs, k - 1, axis=1)[:, :k]
    weights = np.take_along_axis(probs, top, axis=1).astype(np.float64)
    # p^(1/T) equals softmax(logits / T) up to normalisation; T < 1 trusts the top class more.
    weights = np.power(np.maximum(weights, 1e-12), 1.0 / temperature)
    weights /= weights.sum(axis=1, keepdims=True)
    mixed = np.einsum("nk,nkd->nd", weights, label_vectors[top]).astype(np.float32)
    mixed /= np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12)
    out: np.ndarray = mixed
    return out


def captions(
    probs: np.ndarray, labels: list[str], *, top: int = 3, floor: float = 0.05
) -> list[str]:
    """Short human-readable guess per image, e.g. 'Egyptian cat 77%, tabby 8%'."""
    out = []
    for row in probs:
        best = np.argsort(-row)[:top]
        parts = [
            f"{labels[i].split(',')[0]} {row[i]:.0%}"
            for i in best
            if row[i] >= floor or i == best[0]
        ]
        out.append(", ".join(parts))
    return out
