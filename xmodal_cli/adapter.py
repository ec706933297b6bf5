"""The query adapter: a learnt map applied to an encoded text query before it searches.

There is one map per (space, type): an image query and a note query meet their files in
the same text space, but captions teach only how people describe *photos* — a map learnt
on them must not bend searches for notes, whose vectors the text encoder made itself. Each
map is residual, q ↦ unit(q + g(q)·B·A·q) with a low rank (training starts it at the
identity), and touches only the query, so the stored vectors, the FAISS files (and the
recall an approximate index was tuned to), and the calibration stay valid: calibration
measures any unit query against the stored vectors (store/calibration.py).

The gate g(q) ∈ [0, 1] keeps the map to the user's vocabulary. It reads how much nearer
the query is to the captions the map was trained on (`keys`) than to everyday things
(`away`: emoji names, tuning.everyday_names): its best cosine to a key minus its best
cosine to an everyday name. g grows from 0 to 1 as that rises from `gate` to
`gate + GATE_WIDTH`, so a search unlike every caption, or as near to something everyday,
is not bent at all (tuning.py picks `gate` so that generic searches keep their first
result). A sentence about the user's subject that shares few words with any one caption
still opens it, as long as nothing everyday is nearer. Version 2 maps had no `away` (the
best cosine to a key alone); version 1 maps had no gate.

The file `adapter.npz` in the index folder is derived data like the FAISS files: written
by a writer under the index lock, to a temp file then `os.replace`d (store/atomic.py);
versioned, and bound to the model ids of its spaces, so an index re-encoded by other models
ignores (and `status` reports) an adapter made for the old ones. `check` reports a file
that cannot be read, and `check --repair` removes it. Nothing here imports torch.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_cli.store.atomic import write_atomically

FILE_NAME = "adapter.npz"
VERSION = 3
READABLE = (1, 2, 3)  # version 1: maps without a gate; 2: gate without `away`
GATE_WIDTH = 0.1  # cosine from no change to the full map (chosen on a tuning split)


class AdapterError(ValueError):
    """The adapter file exists but cannot be used as one (corrupt, or a newer version)."""


@dataclass
class QueryMap:
    """q ↦ unit(q + g(q) · up · (down · q)), with the figures that justified keeping it."""

    down: np.ndarray  # (rank, dim)
    up: np.ndarray  # (dim, rank)
    model_id: str  # of the space's encoder when it was trained
    figures: dict[str, Any] = field(default_factory=dict)
    keys: np.ndarray | None = None  # (n, dim) unit vectors of the training captions; None: no gate
    gate: float = 0.0  # nearness (see weight) below which the map does nothing
    away: np.ndarray | None = None  # (m, dim) unit vectors of everyday names; None: version 2

    def weight(self, queries: np.ndarray) -> np.ndarray:
        """g(q) for each row of `queries`: how much of the map applies."""
        if self.keys is None or not len(self.keys):
            return np.ones(len(queries), dtype=np.float32)
        weight: np.ndarray = np.clip((self.nearness(queries) - self.gate) / GATE_WIDTH, 0.0, 1.0)
        return weight.astype(np.float32)

    def nearness(self, queries: np.ndarray) -> np.ndarray:
        """Best cosine to a caption, less the best cosine to an everyday name (if any)."""
        assert self.keys is not None
        near: np.ndarray = (queries @ self.keys.T).max(axis=1)
        if self.away is not None and len(self.away):
            near = near - (queries @ self.away.T).max(axis=1)
        return near

    def apply_all(self, queries: np.ndarray) -> np.ndarray:
        """Each row mapped, unit length."""
        x = np.asarray(queries, dtype=np.float32)
        out = x + self.weight(x)[:, None] * ((x @ self.down.T) @ self.up.T)
        norm = np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        unit: np.ndarray = (out / norm).astype(np.float32)
        return unit

    def apply(self, query: np.ndarray) -> np.ndarray:
        mapped: np.ndarray = self.apply_all(query[None, :])[0]
        return mapped


@dataclass
class Adapter:
    """The maps of one index, keyed by (space, type)."""

    maps: dict[tuple[str, str], QueryMap]
    created: str = ""

    def apply(self, space: str, modality: str, query: np.ndarray) -> np.ndarray:
        """The query as it should search `modality` files in `space` (unchanged if no map)."""
        found = self.maps.get((space, modality))
        return found.apply(query) if found is not None else query

    def usable(self, model_ids: dict[str, str]) -> Adapter:
        """Only the maps trained for the encoders that built this index now."""
        kept = {k: m for k, m in self.maps.items() if model_ids.get(k[0]) == m.model_id}
        return Adapter(kept, self.created)

    def describe(self, model_ids: dict[str, str]) -> dict[str, Any]:
        """For `status`: each map with its held-out figures, and whether it is in use."""
        return {
            "created": self.created,
            "maps": [
                {
                    "space": space,
                    "type": modality,
                    "rank": int(m.down.shape[0]),
                    "captions": 0 if m.keys is None else len(m.keys),
                    "gate": m.gate,
                    "everyday_names": 0 if m.away is None else len(m.away),
                    "in_use": model_ids.get(space) == m.model_id,
                    **m.figures,
                }
                for (space, modality), m in sorted(self.maps.items())
            ],
        }


def path_in(directory: Path) -> Path:
    return directory / FILE_NAME


def load(directory: Path) -> Adapter | None:
    """The saved adapter; None if there is none; AdapterError if the file is unusable."""
    path = path_in(directory)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            if meta.get("version") not in READABLE:
                raise AdapterError(f"{FILE_NAME} has version {meta.get('version')}, not {VERSION}")
            maps = {}
            for entry in meta["maps"]:
                key = f"{entry['space']}|{entry['type']}"
                down, up = data[f"{key}|down"], data[f"{key}|up"]
                if down.ndim != 2 or up.shape != (down.shape[1], down.shape[0]):
                    raise AdapterError(f"{FILE_NAME}: {key} has inconsistent shapes")
                keys = data.get(f"{key}|keys")  # version 1: none
                away = data.get(f"{key}|away")  # versions 1 and 2: none
                for extra in (keys, away):
                    if extra is not None and (extra.ndim != 2 or extra.shape[1] != down.shape[1]):
                        raise AdapterError(f"{FILE_NAME}: {key} has inconsistent shapes")
                arrays = [a for a in (down, up, keys, away) if a is not None]
                if not all(np.isfinite(a).all() for a in arrays):
                    raise AdapterError(f"{FILE_NAME}: {key} holds non-finite numbers")
                maps[(entry["space"], entry["type"])] = QueryMap(
                    down.astype(np.float32),
                    up.astype(np.float32),
                    str(entry["model_id"]),
                    dict(entry.get("figures", {})),
                    keys.astype(np.float32) if keys is not None else None,
                    float(entry.get("gate", 0.0)),
                    away.astype(np.float32) if away is not None else None,
                )
    except AdapterError:
        raise
    except Exception as exc:  # a bad zip, a missing array, a wrong type: all unusable
        raise AdapterError(f"{FILE_NAME} cannot be read: {type(exc).__name__}") from None
    return Adapter(maps, str(meta.get("created", "")))


def load_usable(directory: Path, model_ids: dict[str, str]) -> Adapter | None:
    """What search applies: the maps for these encoders; an unreadable file is ignored
    (search keeps working; `xmodal check` reports it)."""
    try:
        found = load(directory)
    except AdapterError:
        return None
    return found.usable(model_ids) if found is not None and found.maps else None


def save(adapter: Adapter, directory: Path) -> None:
    """Write atomically (the caller holds the writer lock)."""
    created = adapter.created or dt.datetime.now().astimezone().isoformat(timespec="seconds")
    meta = {
        "version": VERSION,
        "created": created,
        "maps": [
            {"space": s, "type": t, "model_id": m.model_id, "figures": m.figures, "gate": m.gate}
            for (s, t), m in sorted(adapter.maps.items())
        ],
    }
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
    for (space, modality), m in adapter.maps.items():
        arrays[f"{space}|{modality}|down"] = m.down.astype(np.float32)
        arrays[f"{space}|{modality}|up"] = m.up.astype(np.float32)
        if m.keys is not None:  # float16: cosines move by < 1e-3, half the bytes
            arrays[f"{space}|{modality}|keys"] = m.keys.astype(np.float16)
        if m.away is not None:
            arrays[f"{space}|{modality}|away"] = m.away.astype(np.float16)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)  # type: ignore[arg-type]

    write_atomically(path_in(directory), write)


def remove(directory: Path) -> bool:
    """Delete the adapter file (writer only); whether there was one."""
    path = path_in(directory)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed
