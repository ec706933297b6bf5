"""The trainer's anchors (queries the map must leave alone) and its MRR: a map learnt with
anchors still finds what the pairs ask for, and the anchors keep their first results."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal_cli.training import TrainData, TrainOptions, apply_map, recall, train_map
from xmodal_cli.tuning import TuneOptions

DIM = 16


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def test_recall_reports_the_mean_reciprocal_rank() -> None:
    candidates = np.eye(4, dtype=np.float32)
    queries = np.array([[0.9, 0.1, 0.0, 0.0], [0.9, 0.5, 0.3, 0.0]], np.float32)
    figures = recall(queries, candidates, [np.array([0]), np.array([2])])
    assert figures["recall@1"] == 0.5
    assert figures["mrr"] == pytest.approx((1 + 1 / 3) / 2)  # ranks 1 and 3


@pytest.mark.parametrize("stop_on_mrr", [False, True])
def test_anchors_keep_generic_searches_where_they_were(stop_on_mrr: bool) -> None:
    rng = np.random.default_rng(4)
    candidates = _unit_rows(rng.standard_normal((200, DIM)))
    basis, _ = np.linalg.qr(rng.standard_normal((DIM, 6)))
    truth = np.eye(DIM) - 2 * basis @ basis.T  # the map the captions call for
    wanted = rng.integers(0, 100, 300)  # captions ask for the first 100 candidates
    queries = _unit_rows(candidates[wanted] @ truth.T + 0.03 * rng.standard_normal((300, DIM)))
    anchors = _unit_rows(candidates[100:] + 0.1 * rng.standard_normal((100, DIM)))
    first = np.argmax(anchors @ candidates.T, axis=1)  # what generic searches find untuned
    train, held = TrainData(queries, [np.array([w]) for w in wanted]).split(held_out=0.25)

    def kept(weight: float) -> tuple[float, float]:
        options = TrainOptions(rank=8, epochs=60, anchor_weight=weight, stop_on_mrr=stop_on_mrr)
        result = train_map(train, held, candidates, options, anchors=anchors)
        found = np.argmax(apply_map(result.weights, anchors) @ candidates.T, axis=1)
        return result.after["recall@1"] - result.before["recall@1"], float((found == first).mean())

    gained, unchanged = kept(0.0)
    assert gained > 0.8 and unchanged < 0.3  # unanchored, the map moves generic searches
    gained, unchanged = kept(TuneOptions().anchor_weight)
    assert gained > 0.7 and unchanged > 0.9  # anchored: both


def test_anchors_without_weight_change_nothing() -> None:
    rng = np.random.default_rng(5)
    candidates = _unit_rows(rng.standard_normal((50, DIM)))
    wanted = rng.integers(0, 50, 80)
    queries = _unit_rows(candidates[wanted] + 0.3 * rng.standard_normal((80, DIM)))
    train, held = TrainData(queries, [np.array([w]) for w in wanted]).split(held_out=0.25)
    options = TrainOptions(rank=4, epochs=5)
    plain = train_map(train, held, candidates, options)
    given = train_map(train, held, candidates, options, anchors=candidates[:10])
    for name, value in plain.weights.items():
        np.testing.assert_array_equal(value, given.weights[name])


def test_mining_by_partition_picks_what_a_full_sort_picks() -> None:
    """training._best (partition, then a sort of the few) equals the head of a stable
    argsort of −score, ties and −inf (positives, unlabelled rows) included."""
    from xmodal_cli.training import _best

    rng = np.random.default_rng(7)
    for _ in range(500):
        n, k = int(rng.integers(0, 50)), int(rng.integers(0, 10))
        score = np.round(rng.standard_normal(n), 1)  # rounded: many ties
        score[rng.random(n) < 0.3] = -np.inf
        order = np.argsort(-score, kind="stable")
        expected = order[np.isfinite(score[order])][:k]
        np.testing.assert_array_equal(_best(score, k), expected)
