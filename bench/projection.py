"""A trained image -> text-space projection for lite, mixed with ConSE (numpy at run time).

A linear map from EfficientNet-Lite0's unit-normalised 1280-d features into MiniLM's 384-d
space, trained the contrastive way (xmodal_cli.training) on offline pairs: emoji rendered from
a colour-emoji font with their Unicode names, and the classifier's own class weights with
their names (DeViSE). Lite's image vector would be normalise(α·ConSE + (1-α)·projection).

No weights ship yet: bench/train_projection.py trains and measures one, and the best mix it
found (chosen on tuning photos) did not beat ConSE alone on photos held out from every choice,
so lite still uses ConSE alone. The script writes a weights file here only when one does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Where lite would read shipped weights from (absent until a projection beats ConSE).
WEIGHTS = Path(__file__).parent / "data" / "lite_projection.npz"
# Part of lite's text-space model id: a new weights file must come with a new version.
VERSION = 1
MODEL_ID = f"proj-emoji-devise-v{VERSION}"


@dataclass(frozen=True)
class Projection:
    """Weights (384, 1280), bias (384,) and the ConSE share α of the mix."""

    weight: np.ndarray
    bias: np.ndarray
    alpha: float

    def project(self, features: np.ndarray) -> np.ndarray:
        """Unit text-space vectors for rows of unit-normalised image features."""
        out = np.asarray(features, dtype=np.float32) @ self.weight.T + self.bias
        return _normalise(out)

    def mix(self, conse: np.ndarray, features: np.ndarray) -> np.ndarray:
        """normalise(α·ConSE + (1-α)·projection): lite's image vectors in the text space."""
        return _normalise(self.alpha * conse + (1.0 - self.alpha) * self.project(features))


def _normalise(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)).astype(
        np.float32
    )
    return out


@functools.cache
def load(path: Path) -> Projection:
    """A saved projection (read once per process and path)."""
    with np.load(path, allow_pickle=False) as data:
        return Projection(
            weight=data["weight"].astype(np.float32),
            bias=data["bias"].astype(np.float32),
            alpha=float(data["alpha"]),
        )


def save(
    path: Path, weights: dict[str, np.ndarray], alpha: float, provenance: dict[str, str]
) -> None:
    """Write trained weights (float16: the mix does not notice) with how they were made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {f"meta_{k}": np.array(v) for k, v in provenance.items()}
    np.savez_compressed(
        path,
        weight=weights["weight"].astype(np.float16),
        bias=weights["bias"].astype(np.float16),
        alpha=np.array(alpha, dtype=np.float32),
        version=np.array(VERSION),
        **meta,  # type: ignore[arg-type]
    )
