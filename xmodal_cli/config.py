"""Where things live: index directory, model cache, and the compute device."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "xmodal"


def index_dir(override: Path | None = None) -> Path:
    """The index directory: --index-dir, else $XMODAL_HOME, else the XDG data dir."""
    if override is not None:
        return override.expanduser().absolute()
    env = os.environ.get("XMODAL_HOME")
    if env:
        return Path(env).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def cache_dir() -> Path:
    """Derived model files (ONNX exports, label embeddings): $XMODAL_CACHE or the XDG cache."""
    env = os.environ.get("XMODAL_CACHE")
    if env:
        return Path(env).expanduser().absolute()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME))


def model_path(override: Path | None = None) -> Path | None:
    """A folder holding hub models copied by hand: --model-path, else $XMODAL_MODEL_PATH."""
    if override is not None:
        return override.expanduser().absolute()
    env = os.environ.get("XMODAL_MODEL_PATH")
    return Path(env).expanduser().absolute() if env else None


def approximate_from(default: int) -> int:
    """Items from which a space is searched approximately: $XMODAL_APPROXIMATE_FROM (for
    testing and tuning; the default was measured), else `default`."""
    value = os.environ.get("XMODAL_APPROXIMATE_FROM", "")
    return int(value) if value.isdigit() and int(value) > 0 else default


DEVICES = ("auto", "cpu", "cuda", "mps")


def check_device(requested: str) -> str:
    """Validate a --device value without importing torch."""
    from xmodal_cli.errors import UsageError

    if requested not in DEVICES:
        raise UsageError(f"unknown device {requested!r}", f"use one of: {', '.join(DEVICES)}")
    return requested


def resolve_device(requested: str) -> str:
    """Map auto|cpu|cuda|mps to a torch device string, failing clearly if it is absent.

    Called only when a model is about to load, so runs with nothing to encode skip torch.
    auto picks CUDA, then Apple's MPS, then the CPU.
    """
    from xmodal_cli.errors import UsageError

    check_device(requested)
    if requested == "cpu" or (requested == "auto" and not _may_have_gpu()):
        return "cpu"  # without importing torch (1-2 s): the lite profile runs on onnxruntime
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if requested == "cuda" and not cuda:
        raise UsageError("CUDA was requested but no CUDA device is available", "use --device cpu")
    if requested == "mps" and not mps:
        raise UsageError("MPS was requested but this machine has no Apple GPU", "use --device cpu")
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    return requested


def _may_have_gpu() -> bool:
    """False only when neither an NVIDIA driver nor Apple silicon can be present."""
    import platform
    import sys

    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    return any(
        os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidia0", "/dev/dxg")
    )


def batch_size(requested: int | None, device: str) -> int:
    """--batch-size, else 32; with --device cuda, about 32 images per free GiB (max 256)."""
    if requested is not None:
        return requested
    if device != "cuda":
        return 32  # without importing torch: an unchanged re-run must stay instant
    import torch

    if not torch.cuda.is_available():
        return 32
    free, _ = torch.cuda.mem_get_info()
    return int(min(256, max(32, 32 * free // 2**30)))
