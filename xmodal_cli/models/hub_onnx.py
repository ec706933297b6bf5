"""The hub profiles' text towers run by onnxruntime, so a cold CPU query never imports torch.

Each tower (CLIP's multilingual text encoder, SigLIP's text tower, CLAP's text tower) is
exported once, with torch, into the xmodal cache, like the MiniLM encoder: the file name
carries a fingerprint of the model folder, so other weights give another file. Beside it goes
the fast tokenizer exactly as transformers loaded it (as `tokenizer.json`), and queries then
tokenize with the `tokenizers` library (transformers' AutoTokenizer imports torch) using the
same settings as the torch path, and run the graph. The vectors equal the torch path's
(tests: cosine > 0.9999), so indexes keep their model ids. If the export fails (say, no fast
tokenizer can be had for the model), queries fall back to the torch path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_cli import config
from xmodal_cli.errors import XmodalError
from xmodal_cli.models import onnx

CLIP_TEXT_KIND = "clip-text"  # sentence-transformers: DistilBERT, mean pooling, Dense
SIGLIP_TEXT_KIND = "siglip-text"  # SiglipModel.get_text_features, fixed max_length padding
CLAP_TEXT_KIND = "clap-text"  # ClapModel.get_text_features (RoBERTa)
KINDS = (CLIP_TEXT_KIND, SIGLIP_TEXT_KIND, CLAP_TEXT_KIND)
_EXPORT_VERSION = 1
_SAMPLE = 1 << 20  # bytes read from each end of a weights file for its fingerprint
_log = logging.getLogger(__name__)

Encode = Callable[[list[str]], np.ndarray]


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def fingerprint(folder: Path) -> str:
    """A short hash of the folder's configs and weights (both ends of each weights file:
    hashing 1 GB of weights would cost a query more than the whole search)."""
    digest = hashlib.sha256(f"e{_EXPORT_VERSION}".encode())
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        name = path.relative_to(folder).as_posix()
        if path.suffix == ".json":
            digest.update(name.encode() + b"\0" + path.read_bytes())
        elif path.suffix in (".safetensors", ".bin"):
            size = path.stat().st_size
            digest.update(f"{name}\0{size}".encode())
            with path.open("rb") as handle:
                digest.update(handle.read(_SAMPLE))
                handle.seek(max(size - _SAMPLE, 0))
                digest.update(handle.read(_SAMPLE))
    return digest.hexdigest()[:16]


def onnx_path(kind: str, folder: Path, cache: Path) -> Path:
    """Where the exported graph of `kind` from `folder` lives."""
    return cache / f"hub-{kind}-e{_EXPORT_VERSION}-{fingerprint(folder)}.onnx"


def tokenizer_path(graph: Path) -> Path:
    """The torch path's tokenizer, saved beside its exported graph (see export_onnx)."""
    return graph.with_name(graph.stem + ".tokenizer.json")


def _write(destination: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".hub-", suffix=".json", dir=destination.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, destination)


def _fixed_length(folder: Path) -> int:
    """SigLIP pads every text to its text tower's positions."""
    text = _json(folder / "config.json").get("text_config") or {}
    return int(text.get("max_position_embeddings") or 64)


def _inputs(kind: str) -> list[str]:
    return ["input_ids"] if kind == SIGLIP_TEXT_KIND else ["input_ids", "attention_mask"]


def _torch_tower(kind: str, folder: Path) -> Any:
    """The tower as a torch module: token ids (and mask) -> the embedding, float32, CPU."""
    import torch

    def embedding(output: Any) -> Any:
        return getattr(output, "pooler_output", output)

    if kind == CLIP_TEXT_KIND:
        from sentence_transformers import SentenceTransformer

        wrapper = SentenceTransformer(
            str(folder), device="cpu", model_kwargs={"attn_implementation": "eager"}
        ).eval()

        class _Sentence(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.wrapper = wrapper

            def forward(self, ids: Any, mask: Any) -> Any:
                features = {"input_ids": ids, "attention_mask": mask}
                return self.wrapper(features)["sentence_embedding"]

        return _Sentence().eval()
    if kind == SIGLIP_TEXT_KIND:
        from transformers import AutoModel

        model = AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval()

        class _Siglip(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, ids: Any) -> Any:  # the torch path passes no attention mask
                return embedding(self.model.get_text_features(input_ids=ids))

        return _Siglip().eval()
    from transformers import ClapModel

    clap: Any = ClapModel.from_pretrained(str(folder), attn_implementation="eager")
    clap.eval()

    class _Clap(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = clap

        def forward(self, ids: Any, mask: Any) -> Any:
            return embedding(self.model.get_text_features(input_ids=ids, attention_mask=mask))

    return _Clap().eval()


def export_onnx(kind: str, folder: Path, destination: Path) -> Path:
    """Export the text tower of `kind`; written to a temporary file, then renamed."""
    import torch

    onnx.quiet_transformers()
    if kind not in KINDS:
        raise ValueError(f"unknown text tower {kind!r}")
    tower = _torch_tower(kind, folder)
    # The tokenizer exactly as transformers loaded it (its config can change the special
    # tokens tokenizer.json adds), or built by transformers when the folder has no such file.
    if kind == CLIP_TEXT_KIND:
        loaded = tower.wrapper.tokenizer
    else:
        from transformers import AutoTokenizer

        loaded = AutoTokenizer.from_pretrained(str(folder))
    backend = getattr(loaded, "backend_tokenizer", None)
    if backend is None:
        raise ValueError("transformers gives no fast tokenizer for this model")
    _settle(kind, folder, loaded, backend)
    destination.parent.mkdir(parents=True, exist_ok=True)
    _write(tokenizer_path(destination), backend.to_str())
    length = _fixed_length(folder) if kind == SIGLIP_TEXT_KIND else 8
    sample = torch.full((2, length), 5, dtype=torch.long)
    sample[:, 0] = 2  # any valid ids; every id below 5 is in every vocabulary here
    names = _inputs(kind)
    args = (sample,) if kind == SIGLIP_TEXT_KIND else (sample, torch.ones_like(sample))
    axes = {0: "batch"} if kind == SIGLIP_TEXT_KIND else {0: "batch", 1: "tokens"}
    return onnx.export(
        tower,
        args,
        destination,
        inputs=names,
        outputs=["embedding"],
        axes={**{n: axes for n in names}, "embedding": {0: "batch"}},
    )


def _settle(kind: str, folder: Path, loaded: Any, backend: Any) -> None:
    """Give the saved tokenizer the truncation and padding the torch path asks for."""
    if kind == SIGLIP_TEXT_KIND:  # padding="max_length" to the text positions
        length: int | None = _fixed_length(folder)
        limit = length
    else:  # padding=True; truncation to model_max_length (sentence-transformers sets it
        # to max_seq_length); a tokenizer without a limit gets the model's positions
        length = None
        limit = int(loaded.model_max_length)
        if limit > 1_000_000:
            text = _json(folder / "config.json").get("text_config") or {}
            limit = int(text.get("max_position_embeddings") or 514) - 2  # RoBERTa's offset
    backend.no_padding()
    backend.enable_truncation(limit)
    pad_id = loaded.pad_token_id
    backend.enable_padding(
        direction=str(getattr(loaded, "padding_side", "right") or "right"),
        pad_id=int(pad_id) if pad_id is not None else 0,
        pad_token=str(loaded.pad_token or "[PAD]"),
        length=length,
    )


class _Tokens:
    """The tokenizer saved at export, with the torch path's truncation and padding."""

    def __init__(self, saved: Path) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(saved))

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return ids, mask


class OnnxTextTower:
    """One hub text tower in onnxruntime: unit vectors, without importing torch."""

    def __init__(
        self, kind: str, folder: Path, cache: Path | None = None, *, threads: int | None = None
    ) -> None:

        self.kind = kind
        self.path = onnx_path(kind, folder, cache or config.cache_dir())
        if not (self.path.exists() and tokenizer_path(self.path).exists()):
            export_onnx(kind, folder, self.path)
        self._tokens = _Tokens(tokenizer_path(self.path))
        self._session = onnx.cpu_session(self.path, threads)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit vectors, one row per text, in input order."""
        out: list[np.ndarray] = []
        for start in range(0, len(texts), batch_size):
            ids, mask = self._tokens(texts[start : start + batch_size])
            feed = {"input_ids": ids, "attention_mask": mask}
            (vectors,) = self._session.run(None, {n: feed[n] for n in _inputs(self.kind)})
            out.append(np.asarray(vectors, dtype=np.float32))
        if not out:
            return np.zeros((0, 0), np.float32)
        array = np.concatenate(out)
        if not np.isfinite(array).all():
            raise XmodalError("the model produced invalid numbers (NaN or infinity)")
        unit: np.ndarray = array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)
        return unit


class QueryEncoder:
    """A text tower for queries: ONNX (exported on first use, with torch, once per machine),
    else `fallback` (the torch path) when the export fails."""

    def __init__(self, kind: str, folder: Path, fallback: Encode) -> None:
        self.kind, self.folder, self.fallback = kind, folder, fallback
        self._tower: OnnxTextTower | None = None
        self._failed = False
        self._lock = threading.Lock()

    def tower(self) -> OnnxTextTower | None:
        with self._lock:
            if self._tower is None and not self._failed:
                try:
                    self._tower = OnnxTextTower(self.kind, self.folder)
                except Exception as exc:  # no fast tokenizer, an exporter/library mismatch
                    _log.warning("%s: using torch for queries (%s)", self.kind, exc)
                    self._failed = True
            return self._tower

    def __call__(self, texts: list[str]) -> np.ndarray:
        tower = self.tower()
        return tower.encode(texts) if tower is not None else self.fallback(texts)


def query_encoders(
    towers: str, folders: dict[str, Path], text: Encode, clap: Encode
) -> tuple[Encode, Encode]:
    """ONNX query encoders for a hub profile's text space and CLAP, over the torch paths."""
    from xmodal_cli.models.registry import CLAP, CLIP_TEXT, SIGLIP

    if towers == "clip":
        vision_text = QueryEncoder(CLIP_TEXT_KIND, folders[CLIP_TEXT.repo], text)
    else:
        vision_text = QueryEncoder(SIGLIP_TEXT_KIND, folders[SIGLIP.repo], text)
    return vision_text, QueryEncoder(CLAP_TEXT_KIND, folders[CLAP.repo], clap)
