"""A small contrastive trainer for maps between vector spaces (torch, imported inside).

One function, `train_map`, learns a map f from query vectors (d_in) to a space of fixed
candidate vectors (d_out) so that each query's relevant candidates rank first:

- loss: InfoNCE, −log(Σ_pos e^{s·cos} / Σ_all e^{s·cos}) with a learnable scale s = 1/τ
  (several relevant candidates per query count together, as in multi-positive InfoNCE);
- negatives: every other query's positives in the batch (in-batch), plus negatives mined
  under the current map before each epoch: the highest scoring wrong candidates (hard)
  and the best ones still scoring below the query's positive (semi-hard, as in FaceNet:
  informative but rarely unlabelled true matches), mined among the candidates some
  training query asks for, or among all of them with `mine_all` (see TrainOptions);
- augmentation: a query may come with extra views (e.g. the same caption with words
  dropped, encoded by the caller: users type shorter queries than captions), one picked at
  random per step, plus Gaussian noise in vector space (a smoothness prior when pairs are
  few; it is the one augmentation every modality allows);
- anchors (optional): queries the map must leave alone (e.g. generic searches), kept in
  place by a KL term between their sharp candidate distributions before and after the map
  (`anchor_weight`): a map that only bends what the pairs are about;
- early stopping on held-out Recall@K or MRR (`stop_on_mrr`), ranked at the level of
  `owners` (e.g. files whose items are the candidates), keeping the best epoch; the
  held-out figures before training are those of the initial map.

Two parameterisations: "residual" f(x) = x + B·A·x with rank r and B = 0 at the start, so
training begins at the identity (query adapters: `xmodal tune`); "linear" f(x) = W·x + b
(a projection between spaces of different dimension, e.g. image features → text space).
Runs single-threaded and seeded: the same inputs give the same weights.

For a projection (image features → text space):

    data = TrainData(features, [np.array([label]) for label in labels])
    train, held = data.split(held_out=0.2)
    options = TrainOptions(kind="linear", mine_all=True)  # every other label is a negative
    result = train_map(train, held, label_vectors, options)
    result.before, result.after                            # held-out recall@1/@5
    projected = apply_map(result.weights, new_features)   # unit vectors in text space
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ANCHOR_TAU = 0.02  # how sharply the anchors' rankings are kept (their first files most)
RESIDUAL = "residual"
LINEAR = "linear"


@dataclass(frozen=True)
class TrainOptions:
    """How to train; the defaults suit a query adapter on a few hundred pairs."""

    kind: str = RESIDUAL  # or LINEAR
    rank: int = 32  # of the residual map's update (ignored by LINEAR)
    epochs: int = 80
    batch_size: int = 64
    learning_rate: float = 1e-2
    weight_decay: float = 1e-3  # pulls a residual map back towards the identity
    temperature: float = 0.05  # initial τ; learnt (clamped to ≥ 0.01)
    hard_negatives: int = 8  # per query, mined before each epoch
    semi_hard_negatives: int = 8
    noise: float = 0.02  # std of Gaussian noise added to each query vector in training
    patience: int = 15  # epochs without a better held-out score before stopping
    recall_k: int = 1  # the Recall@K that early stopping watches (R@5 breaks ties)
    stop_on_mrr: bool = False  # watch the held-out MRR instead (smoother on few pairs)
    seed: int = 0
    # Mine negatives among every candidate (right when each is a known non-match unless
    # marked, e.g. class names), or only among candidates some training query asks for:
    # a user's uncaptioned photos are unlabelled, not wrong, and a map taught to push
    # queries away from them loses exactly the photos tuning should help find.
    mine_all: bool = False
    # Weight of a term that keeps `anchors` (queries the map must leave alone, e.g. generic
    # searches) where they were: mean 1 − cos(f(a), a) over a batch of them. 0: none.
    anchor_weight: float = 0.0


@dataclass
class TrainData:
    """Queries with the candidate rows relevant to each, and optional extra views."""

    queries: np.ndarray  # (n, d_in)
    positives: list[np.ndarray]  # per query: candidate row numbers
    views: list[np.ndarray] | None = None  # per query: (v, d_in) augmented encodings

    def subset(self, rows: np.ndarray) -> TrainData:
        return TrainData(
            self.queries[rows],
            [self.positives[i] for i in rows],
            [self.views[i] for i in rows] if self.views is not None else None,
        )

    def split(
        self, *, held_out: float = 0.2, seed: int = 0, groups: np.ndarray | None = None
    ) -> tuple[TrainData, TrainData]:
        """(train, held-out): a seeded share of `groups` (default: of queries) held out."""
        train_rows, held_rows = split_rows(len(self.queries), held_out, seed, groups)
        return self.subset(train_rows), self.subset(held_rows)


@dataclass
class TrainResult:
    """The best map (numpy weights for `apply_map`) and its held-out figures."""

    weights: dict[str, np.ndarray]
    before: dict[str, float]  # held-out recall@1/@5 of the initial map
    after: dict[str, float]  # of the returned (best) map
    best_epoch: int
    epochs: int
    seconds: float
    temperature: float
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def improved(self) -> bool:
        """Whether it beats the initial map: higher held-out R@1, and R@5 no lower."""
        return (
            self.after["recall@1"] > self.before["recall@1"]
            and self.after["recall@5"] >= self.before["recall@5"]
        )


Progress = Callable[[int, int, dict[str, float]], None]  # (epoch, epochs, held-out figures)


def split_rows(
    n: int, held_out: float, seed: int, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers (train, held-out); rows of one group (e.g. one query text) stay together."""
    labels = np.arange(n) if groups is None else np.asarray(groups)
    unique = np.unique(labels)
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(unique)[: max(1, round(len(unique) * held_out))]
    held = np.isin(labels, chosen)
    return np.flatnonzero(~held), np.flatnonzero(held)


def apply_map(weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Map rows of `x` (or one vector) with trained weights; unit-length results."""
    x = np.asarray(x, dtype=np.float32)
    out: np.ndarray
    if "down" in weights:
        out = x + (x @ weights["down"].T) @ weights["up"].T
    else:
        out = x @ weights["weight"].T + weights["bias"]
    norm = np.linalg.norm(out, axis=-1, keepdims=True)
    unit: np.ndarray = (out / np.maximum(norm, 1e-12)).astype(np.float32)
    return unit


def recall(
    mapped: np.ndarray,
    candidates: np.ndarray,
    positives: list[np.ndarray],
    owners: np.ndarray | None = None,
    ks: tuple[int, ...] = (1, 5),
) -> dict[str, float]:
    """Recall@K of mapped queries: 1 when an owner (file) of a positive ranks ≤ K, where an
    owner's score is its best candidate's (as search collapses items to files)."""
    if not len(mapped):
        return {**{f"recall@{k}": 0.0 for k in ks}, "mrr": 0.0}
    owners = np.arange(len(candidates)) if owners is None else owners
    # Each owner's best candidate: candidates sorted by owner, one max per run (exact, and
    # far faster than np.maximum.at on tens of thousands of candidates)
    order = np.argsort(owners, kind="stable")
    present, starts = np.unique(owners[order], return_index=True)
    hits, reciprocal = np.zeros(len(ks)), 0.0
    for start in range(0, len(mapped), 256):
        scores = mapped[start : start + 256] @ candidates.T
        for row, score in enumerate(scores):
            best = np.full(int(owners.max()) + 1, -np.inf)
            best[present] = np.maximum.reduceat(score[order], starts)
            relevant = np.unique(owners[positives[start + row]])
            target = best[relevant].max()
            best[relevant] = -np.inf
            rank = 1 + int((best > target).sum())
            hits += [rank <= k for k in ks]
            reciprocal += 1.0 / rank
    found = {f"recall@{k}": float(h / len(mapped)) for k, h in zip(ks, hits, strict=True)}
    return {**found, "mrr": reciprocal / len(mapped)}


def train_map(
    train: TrainData,
    held_out: TrainData,
    candidates: np.ndarray,
    options: TrainOptions | None = None,
    *,
    owners: np.ndarray | None = None,
    initial: dict[str, np.ndarray] | None = None,
    progress: Progress | None = None,
    anchors: np.ndarray | None = None,
) -> TrainResult:
    """Learn a map from `train` queries to `candidates` rows; stop early on `held_out`.

    `owners[row]` groups candidate rows (items of one file) for ranking; `initial` starts
    from given weights (the keys `apply_map` reads) instead of identity / random; `anchors`
    (rows of d_in) are held in place with `options.anchor_weight`."""
    import torch

    options = options or TrainOptions()
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        return _train(train, held_out, candidates, options, owners, initial, progress, anchors)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _train(
    train: TrainData,
    held_out: TrainData,
    candidates: np.ndarray,
    options: TrainOptions,
    owners: np.ndarray | None,
    initial: dict[str, np.ndarray] | None,
    progress: Progress | None,
    anchors: np.ndarray | None = None,
) -> TrainResult:
    import torch

    started = time.perf_counter()
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    targets = torch.from_numpy(np.ascontiguousarray(candidates, dtype=np.float32))
    model = _build_map(train.queries.shape[1], targets.shape[1], options, initial)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay
    )

    def figures() -> dict[str, float]:
        mapped = apply_map(model.weights(), held_out.queries)
        return recall(mapped, candidates, held_out.positives, owners, (1, 5))

    before = best = figures()
    best_weights, best_epoch, waited, history = model.weights(), 0, 0, [before]
    epoch = 0
    for epoch in range(1, options.epochs + 1):
        mined = _mine(model.weights(), train, candidates, options)
        model.train()
        for batch in np.array_split(rng.permutation(len(train.queries)), _batches(train, options)):
            loss = _loss(model, _views(train, batch, rng, options), train, batch, mined, targets)
            if anchors is not None and len(anchors) and options.anchor_weight:
                picked = torch.from_numpy(anchors[rng.integers(0, len(anchors), len(batch))])
                loss = loss + options.anchor_weight * _kept_in_place(model, picked, targets)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                model.log_scale.clamp_(0.0, float(np.log(100.0)))
        current = figures()
        history.append(current)
        if progress is not None:
            progress(epoch, options.epochs, current)
        if _key(current, options) > _key(best, options):
            best, best_weights, best_epoch, waited = current, model.weights(), epoch, 0
        else:
            waited += 1
            if waited >= options.patience:
                break
    return TrainResult(
        weights=best_weights,
        before=before,
        after=best,
        best_epoch=best_epoch,
        epochs=epoch,
        seconds=time.perf_counter() - started,
        temperature=float(1 / np.exp(model.log_scale.item())),
        history=history,
    )


def _key(figures: dict[str, float], options: TrainOptions) -> tuple[float, float]:
    first = figures["mrr"] if options.stop_on_mrr else figures[f"recall@{options.recall_k}"]
    return (round(first, 6), round(figures["recall@5"], 6))


def _batches(data: TrainData, options: TrainOptions) -> int:
    return max(1, -(-len(data.queries) // options.batch_size))


def _views(
    data: TrainData, batch: np.ndarray, rng: np.random.Generator, options: TrainOptions
) -> np.ndarray:
    """One view per query (the original or an augmented encoding), plus vector noise."""
    rows = []
    for i in batch:
        choices = data.views[i] if data.views is not None and len(data.views[i]) else None
        pick = int(rng.integers(0, len(choices) + 1)) if choices is not None else 0
        rows.append(data.queries[i] if pick == 0 or choices is None else choices[pick - 1])
    x = np.stack(rows).astype(np.float32)
    if options.noise:
        x = x + rng.normal(0.0, options.noise, x.shape).astype(np.float32)
    return x


def _mine(
    weights: dict[str, np.ndarray], data: TrainData, candidates: np.ndarray, options: TrainOptions
) -> list[np.ndarray]:
    """Per query: the hardest wrong candidates, and the best ones scoring below its positive."""
    wanted = options.hard_negatives + options.semi_hard_negatives
    if not wanted:
        return [np.zeros(0, np.int64)] * len(data.queries)
    mapped = apply_map(weights, data.queries)
    unlabelled = np.ones(len(candidates), dtype=bool)
    unlabelled[np.concatenate(data.positives)] = False
    out = []
    for start in range(0, len(mapped), 256):
        scores = mapped[start : start + 256] @ candidates.T
        for row, score in enumerate(scores):
            positives = data.positives[start + row]
            floor = float(score[positives].max())
            score[positives] = -np.inf
            if not options.mine_all:
                score[unlabelled] = -np.inf
            hard = _best(score, options.hard_negatives)
            semi = _best(np.where(score < floor, score, -np.inf), options.semi_hard_negatives)
            out.append(np.unique(np.concatenate([hard, semi])))
    return out


def _best(score: np.ndarray, k: int) -> np.ndarray:
    """The k highest finite scores' positions, best first, ties by position: the head of a
    stable argsort of −score, found by partition (a full sort of every candidate for every
    query was most of an epoch's time on large collections)."""
    finite = np.flatnonzero(np.isfinite(score))
    if len(finite) > k > 0:
        cut = np.partition(score[finite], len(finite) - k)[len(finite) - k]
        finite = finite[score[finite] >= cut]  # ties at the cut all stay, to be sorted
    picked = finite[np.argsort(-score[finite], kind="stable")][:k]
    return picked


def _loss(
    model: Any,
    views: np.ndarray,
    data: TrainData,
    batch: np.ndarray,
    mined: list[np.ndarray],
    targets: Any,
) -> Any:
    """Multi-positive InfoNCE of the batch against its positives and mined negatives."""
    import torch

    columns = np.unique(
        np.concatenate([data.positives[i] for i in batch] + [mined[i] for i in batch])
    )
    where = {int(c): j for j, c in enumerate(columns)}
    positive = torch.zeros((len(batch), len(columns)), dtype=torch.bool)
    for row, i in enumerate(batch):
        positive[row, [where[int(c)] for c in data.positives[i]]] = True
    mapped = torch.nn.functional.normalize(model(torch.from_numpy(views)), dim=1)
    logits = model.log_scale.exp() * mapped @ targets[torch.from_numpy(columns)].T
    everything = torch.logsumexp(logits, dim=1)
    matching = torch.logsumexp(logits.masked_fill(~positive, float("-inf")), dim=1)
    return (everything - matching).mean()


def _kept_in_place(model: Any, anchors: Any, targets: Any) -> Any:
    """How far the map moves what `anchors` find: the KL divergence of their candidate
    distributions (sharp: scale 1/ANCHOR_TAU) after the map from before it."""
    import torch

    moved = torch.nn.functional.normalize(model(anchors), dim=1)
    before = torch.log_softmax(anchors @ targets.T / ANCHOR_TAU, dim=1)
    after = torch.log_softmax(moved @ targets.T / ANCHOR_TAU, dim=1)
    return torch.nn.functional.kl_div(after, before, log_target=True, reduction="batchmean")


def _build_map(
    d_in: int, d_out: int, options: TrainOptions, initial: dict[str, np.ndarray] | None
) -> Any:
    """The map as a torch module (defined here: torch is imported only when training)."""
    import torch

    class Map(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kind = options.kind
            self.log_scale = torch.nn.Parameter(torch.tensor(float(-np.log(options.temperature))))
            if options.kind == RESIDUAL:
                if d_in != d_out:
                    raise ValueError("a residual map needs equal input and output dimensions")
                rank = min(options.rank, d_in)
                self.down = torch.nn.Parameter(torch.randn(rank, d_in) / float(np.sqrt(d_in)))
                self.up = torch.nn.Parameter(torch.zeros(d_out, rank))  # identity at the start
            elif options.kind == LINEAR:
                self.linear = torch.nn.Linear(d_in, d_out)
            else:
                raise ValueError(f"unknown map kind {options.kind!r}")
            for name, value in (initial or {}).items():
                self.parameter(name).data = torch.from_numpy(np.array(value, dtype=np.float32))

        def parameter(self, name: str) -> Any:
            return getattr(self.linear, name) if self.kind == LINEAR else getattr(self, name)

        def forward(self, x: Any) -> Any:
            if self.kind == RESIDUAL:
                return x + (x @ self.down.T) @ self.up.T
            return self.linear(x)

        def weights(self) -> dict[str, np.ndarray]:
            names = ("down", "up") if self.kind == RESIDUAL else ("weight", "bias")
            return {n: self.parameter(n).detach().numpy().copy() for n in names}

    return Map()
