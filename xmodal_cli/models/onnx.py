"""What every network xmodal runs in onnxruntime shares: a one-time export (and its INT8
copy), written to a temp file and renamed (a killed export leaves no half graph), and the CPU
session that runs it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def quiet_transformers() -> None:
    """Keep transformers' progress bars and warnings out of our output (exports run once)."""
    from transformers.utils import logging as hf_logging

    quiet: Any = hf_logging  # transformers leaves these two untyped
    quiet.disable_progress_bar()
    quiet.set_verbosity_error()


def export(
    module: Any,
    args: tuple[Any, ...],
    destination: Path,
    *,
    inputs: list[str],
    outputs: list[str],
    axes: dict[str, dict[int, str]],
) -> Path:
    """`torch.onnx.export` of `module` on sample `args` to `destination` (opset 17)."""
    import warnings

    import torch

    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{destination.stem}-", suffix=".onnx", dir=destination.parent
    )
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer chatter about shapes we fix on purpose
            torch.onnx.export(
                module,
                args,
                tmp,
                input_names=inputs,
                output_names=outputs,
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, destination)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return destination


def quantize_int8(source: Path, destination: Path) -> Path:
    """Dynamic INT8 copy of `source`: per-channel int8 weights of every MatMul/Gemm with a
    constant weight, activations quantised per batch at run time.

    Weights only, no calibration data: the same graph always gives the same bytes. Per
    channel because per-tensor scales cost MiniLM 3 of 52 text->image queries at R@5."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{destination.stem}-", suffix=".onnx", dir=destination.parent
    )
    os.close(fd)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process is for static quantisation
    try:
        quantize_dynamic(
            source,
            tmp,
            op_types_to_quantize=["MatMul", "Gemm"],
            per_channel=True,
            weight_type=QuantType.QInt8,
            extra_options={"MatMulConstBOnly": True},
        )
        os.replace(tmp, destination)
    finally:
        root.setLevel(level)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return destination


def cpu_session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime session on the CPU, one thread per core unless told otherwise."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or (os.cpu_count() or 1)
    options.log_severity_level = 3
    # Busy-waiting threads would steal the CPU from FAISS and the decoding threads.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
