"""Per-(space, modality) score calibration, so mixed results can be ranked fairly.

Cosine scores of one query against photos and against passages live on different scales
(ConSE image vectors sit closer together than passage vectors). For a query q and the item
vectors x of one modality with mean μ and covariance Σ, the score q·x has mean q·μ and
variance qᵀΣq. Ranking by z = (q·x − q·μ) / √(qᵀΣq) puts "how unusually good is this match
for its kind" on one scale. μ and Σ are estimated from a spread sample of stored vectors and
saved next to the FAISS files (derived data, recomputed when the catalog changes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xmodal_cli.store.atomic import write_atomically
from xmodal_cli.store.catalog import Catalog

SAMPLE = 4096  # vectors per (space, modality): plenty for a 384-d covariance
MIN_STD = 0.02  # a floor, so a modality with one or two items cannot produce huge z
# Small collections give noisy estimates, so they are shrunk towards a neutral prior (mean
# score 0, spread PRIOR_STD in every direction) worth PRIOR_WEIGHT items.
PRIOR_WEIGHT = 50
PRIOR_STD = 0.1


@dataclass
class Calibration:
    """Mean and covariance of item vectors per (space, modality)."""

    generation: int
    stats: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]
    counts: dict[tuple[str, str], int] = field(default_factory=dict)  # items per pair

    def share(self, space: str, modality: str) -> float:
        """The fraction of `space`'s items that belong to files of `modality` (1 if unknown)."""
        total = sum(n for (s, _), n in self.counts.items() if s == space)
        return self.counts.get((space, modality), 0) / total if total else 1.0

    def z_scores(
        self, space: str, modality: str, query: np.ndarray, scores: np.ndarray
    ) -> np.ndarray:
        """Calibrated scores; raw scores pass through if this pair was never measured."""
        found = self.stats.get((space, modality))
        if found is None:
            return scores
        mean, covariance = found
        q = query.astype(np.float32)  # Σ is float32: 1280-d, 7 ms -> ~1 ms in float64
        std = max(float(np.sqrt(max(q @ covariance @ q, 0.0))), MIN_STD)
        return (scores - float(q @ mean)) / std


def compute(catalog: Catalog, spaces: dict[str, int]) -> Calibration:
    """Estimate μ and Σ from up to SAMPLE vectors, taken evenly across item ids."""
    stats: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    counts: dict[tuple[str, str], int] = {}
    for space, modality, count in catalog.modality_counts():
        if space not in spaces:
            continue
        counts[(space, modality)] = count
        found = catalog.sample_vectors(space, spaces[space], SAMPLE, modality)
        if not len(found):
            continue
        sample = found.astype(np.float64)
        n = len(sample)
        mean = sample.mean(axis=0)
        centred = sample - mean
        covariance = centred.T @ centred / max(1, n - 1)
        trust = n / (n + PRIOR_WEIGHT)
        prior = np.eye(spaces[space]) * PRIOR_STD**2
        blended = trust * covariance + (1 - trust) * prior
        stats[(space, modality)] = ((trust * mean).astype(np.float32), blended.astype(np.float32))
    return Calibration(catalog.generation, stats, counts)


def save(calibration: Calibration, path: Path) -> None:
    """Write atomically, readable only by the owner."""
    arrays: dict[str, np.ndarray] = {"generation": np.array(calibration.generation)}
    for (space, modality), (mean, covariance) in calibration.stats.items():
        arrays[f"{space}|{modality}|mean"] = mean.astype(np.float32)
        arrays[f"{space}|{modality}|cov"] = covariance.astype(np.float32)
    for (space, modality), count in calibration.counts.items():
        arrays[f"{space}|{modality}|count"] = np.array(count)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]

    write_atomically(path, write)


def load(path: Path, generation: int | None) -> Calibration | None:
    """The saved calibration if it matches `generation` (any, if None), else None."""
    try:
        with np.load(path) as data:
            saved_at = int(data["generation"])
            if generation is not None and saved_at != generation:
                return None
            stats = {}
            counts = {
                (key.split("|")[0], key.split("|")[1]): int(data[key])
                for key in data.files
                if key.endswith("|count")
            }
            for key in data.files:
                if key.endswith("|mean"):
                    space, modality, _ = key.split("|")
                    stats[(space, modality)] = (
                        data[key].astype(np.float32),
                        data[f"{space}|{modality}|cov"].astype(np.float32),
                    )
    except (OSError, ValueError, KeyError):
        return None
    return Calibration(saved_at, stats, counts)
