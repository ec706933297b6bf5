"""The `sound` space: a learned sound-effects embedding (aiSFX) fused with the acoustic one.

The `aisfx` wheel (0.1.2; CC BY 4.0, © 2022 A.B. Ma and A. Lerch, "Representation Learning
for the Automatic Indexing of Sound Effects Libraries", ISMIR 2022) carries a 9-layer CNN
trained to classify sound-effects libraries by their UCS categories. The package itself pins
librosa 0.9 and numpy 1.23, so xmodal never installs or imports it: `convert` checks its
checkpoint against a known SHA-256, unpickles it (the only place torch does), folds the
batch norms into the convolutions and quantises each output channel's weights to int8
(embeddings stay at cosine ≥ 0.9998 to float), and `data/aisfx-int8.npz` (4.3 MB) is that
file: `python -m bench.sfx_weights WHEEL` remakes it. The network runs in onnxruntime from a
graph built here, on xmodal's own librosa front end: 44.1 kHz, peak-normalised, 96 HTK mel
bands (unit-sum filters, 0–22.05 kHz) of a 2048-point power spectrum every 1024 samples,
log10(1 + 10⁴·x) scaled by the training set's maximum. A window is cut into back-to-back
blocks of 100 frames (2.3 s); each block gives 512 values (the last layer's mean over
frequency, max over time) and a window's vector is the mean of its blocks.

On real sounds (bench/real_sounds.py: chosen on GCompris's, reported on the desktop themes'
and games'), the embedding finds same-kind neighbours better than the hand-made acoustic
space and the acoustic space finds altered copies better; their fusion, one cosine
a·cos_sfx + (1 − a)·cos_acoustic with a = 0.8 (picked on the tuning part, where 0.8 and 1.0
are within noise of each other), keeps most of the first and all of the second, so `lite`
compares recordings in it.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_cli.errors import XmodalError
from xmodal_cli.models import acoustic

SAMPLE_RATE = 44_100
N_FFT = 2048
HOP = 1024
N_MELS = 96
BLOCK = 100  # frames per network input: 100 × 1024 / 44 100 ≈ 2.3 s
BLOCK_HOP = 100  # back to back: half the cost of the paper's 50, same figures (bench)
SPEC_MAX = 9.457798957824707  # the paper's normalisation: max over its training spectrograms
DIM = 512
MODEL_ID = "aisfx-0.1.2(int8,blocks=100/100,mean)"
# The checkpoint inside aisfx-0.1.2-py2.py3-none-any.whl (aisfx/models/checkpoint.pth).
CHECKPOINT_SHA256 = "499ea75909c932a2f94c35fa722fa4fabc5bcb7e84917209cc5f7402627b7eb5"
WEIGHTS = Path(__file__).parent / "data" / "aisfx-int8.npz"
WEIGHTS_SHA256 = "c27d61f0bfe8ce37edde12b09c134586f1f0d582e4b1870b10e99666cd33b49f"

SPACE = "sound"  # lite's audio -> audio space
FUSION_WEIGHT = 0.8  # picked on the tuning sounds (bench/real_sounds.py says how)
SOUND_DIM = DIM + acoustic.DIM
SOUND_MODEL_ID = f"{MODEL_ID}+{acoustic.MODEL_ID}(a={FUSION_WEIGHT})"
_BN_EPS = 1e-5
_LAYERS = [f"conv_block{b}.conv{c}" for b in range(1, 5) for c in (1, 2)]
Layers = list[tuple[np.ndarray, np.ndarray]]  # per conv: (in·9, out) weights, (out,) bias


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert(checkpoint: Path, target: Path, expected: str = CHECKPOINT_SHA256) -> None:
    """aisfx's checkpoint.pth → `target` (.npz): per conv, int8 weights with one float scale
    per output channel (batch norm folded in) and a float bias.

    The pickle is opened only when its hash is `expected`, the published file's."""
    found = sha256(checkpoint)
    if found != expected:
        raise ValueError(f"{checkpoint}: SHA-256 {found}, expected {expected}")
    import torch

    # It pickles numpy scalars beside the tensors, which weights_only refuses; the hash
    # above says it is exactly the published file.
    state, _datasets = torch.load(checkpoint, map_location="cpu", weights_only=False)
    arrays: dict[str, np.ndarray] = {}
    for name in _LAYERS:
        block, conv = name.split(".")
        norm = f"embedding_net.{block}.bn{conv[-1]}"
        weight = state[f"embedding_net.{name}.weight"].double().numpy()
        gamma, beta = (state[f"{norm}.{k}"].double().numpy() for k in ("weight", "bias"))
        mean, var = (state[f"{norm}.running_{k}"].double().numpy() for k in ("mean", "var"))
        scale = gamma / np.sqrt(var + _BN_EPS)
        # (out, in, 3, 3) → (in·9, out), the order the im2col columns come in
        folded = (weight * scale[:, None, None, None]).reshape(len(scale), -1).T
        step = np.maximum(np.abs(folded).max(axis=0), 1e-12) / 127
        arrays[f"{name}.q"] = np.round(folded / step).astype(np.int8)
        arrays[f"{name}.s"] = step.astype(np.float32)
        arrays[f"{name}.b"] = (beta - mean * scale).astype(np.float32)
    temp = target.with_name(f".{target.stem}.tmp.npz")
    save: Any = np.savez_compressed  # numpy's stub reads **arrays as its allow_pickle
    save(temp, **arrays)
    temp.replace(target)


def load_layers(weights: Path = WEIGHTS) -> Layers:
    """The float32 layers of a converted file; the shipped one must have its known hash."""
    if weights == WEIGHTS and sha256(weights) != WEIGHTS_SHA256:
        raise XmodalError(
            f"{weights} is not the file this xmodal shipped (SHA-256 differs)",
            "reinstall xmodal",
        )
    with np.load(weights) as data:
        return [
            (data[f"{n}.q"].astype(np.float32) * data[f"{n}.s"], data[f"{n}.b"].astype(np.float32))
            for n in _LAYERS
        ]


class SfxNet:
    """The embedding CNN in plain numpy: the reference the ONNX graph is checked against."""

    def __init__(self, layers: Layers) -> None:
        self.layers = layers

    def forward(self, blocks: np.ndarray) -> np.ndarray:
        """(n, 100, 96) normalised log-mel blocks → (n, 512) embeddings."""
        x = blocks[..., None].astype(np.float32)  # (n, time, mel, channels)
        for index, (weight, bias) in enumerate(self.layers):
            x = np.maximum(_conv3x3(x, weight) + bias, 0.0)
            if index % 2 and index < 7:  # 2×2 max pool after blocks 1–3, none after 4
                n, t, f, c = x.shape
                x = x[:, : t // 2 * 2, : f // 2 * 2].reshape(n, t // 2, 2, f // 2, 2, c)
                x = x.max(axis=(2, 4))
        out: np.ndarray = x.mean(axis=2).max(axis=1)
        return out


def onnx_graph(layers: Layers) -> bytes:
    """The network as an ONNX graph (built here, no torch): blocks (n, 100, 96) →
    embeddings (n, 512)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Unsqueeze", ["blocks", "axis1"], ["x0"])]
    inits = [numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1")]
    for index, (folded, bias) in enumerate(layers):
        kernel = folded.T.reshape(folded.shape[1], -1, 3, 3)  # (out, in, 3, 3)
        inits += [
            numpy_helper.from_array(np.ascontiguousarray(kernel), f"w{index}"),
            numpy_helper.from_array(bias, f"b{index}"),
        ]
        x, y, pooled = f"x{index}", f"y{index}", f"x{index + 1}"
        nodes += [
            helper.make_node(
                "Conv", [x, f"w{index}", f"b{index}"], [f"c{index}"], pads=[1, 1, 1, 1]
            ),
            helper.make_node("Relu", [f"c{index}"], [y]),
            helper.make_node("MaxPool", [y], [pooled], kernel_shape=[2, 2], strides=[2, 2])
            if index % 2 and index < 7  # 2×2 max pool after blocks 1–3, none after 4
            else helper.make_node("Identity", [y], [pooled]),
        ]
    nodes += [
        helper.make_node("ReduceMean", [f"x{len(_LAYERS)}"], ["freq"], axes=[3], keepdims=0),
        helper.make_node("ReduceMax", ["freq"], ["embeddings"], axes=[2], keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "aisfx",
        [helper.make_tensor_value_info("blocks", TensorProto.FLOAT, ["n", BLOCK, N_MELS])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["n", DIM])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def _conv3x3(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """3×3 convolution, stride 1, zero padding 1, channels last, as one matrix product."""
    n, t, f, c = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    # (n, t, f, c, 3, 3): for each output cell, its input patch, channel-major as in torch
    patches = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
    product: np.ndarray = patches.reshape(n * t * f, c * 9) @ weight
    return product.reshape(n, t, f, -1)


class SfxFrontEnd:
    """Mel filter bank built once; `blocks` is then pure numpy."""

    def __init__(self) -> None:
        import librosa.filters

        self.mel_bank = librosa.filters.mel(
            sr=SAMPLE_RATE,
            n_fft=N_FFT,
            n_mels=N_MELS,
            fmin=0.0,
            fmax=SAMPLE_RATE / 2,
            htk=True,
            norm=1.0,
        ).astype(np.float32)
        self.window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic, as librosa's

    def spectrogram(self, samples: np.ndarray) -> np.ndarray:
        """Mono 44.1 kHz samples → (frames, 96) normalised log-mel, frames centred."""
        samples = np.asarray(samples, dtype=np.float32)
        peak = float(np.abs(samples).max()) if len(samples) else 0.0
        if peak > 0:
            samples = samples / peak
        padded = np.pad(samples, (N_FFT // 2, N_FFT // 2))
        if len(padded) < N_FFT:
            padded = np.pad(padded, (0, N_FFT - len(padded)))
        frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
        power = np.abs(np.fft.rfft(frames * self.window, axis=1)) ** 2
        mel = power.astype(np.float32) @ self.mel_bank.T
        out: np.ndarray = np.log10(mel * 1e4 + 1.0) / SPEC_MAX
        return out

    def blocks(self, samples: np.ndarray) -> np.ndarray:
        """(n, 100, 96) network inputs: back-to-back 100-frame blocks; a clip shorter than
        a block is zero-padded (silence, as in training), a partial last block dropped."""
        spec = self.spectrogram(samples)
        if len(spec) <= BLOCK:
            return np.pad(spec, ((0, BLOCK - len(spec)), (0, 0)))[None]
        starts = range(0, len(spec) - BLOCK + 1, BLOCK_HOP)
        return np.stack([spec[s : s + BLOCK] for s in starts])


class SfxEncoder:
    """Windows of mono 44.1 kHz audio → unit vectors of the aiSFX embedding, the network run
    by onnxruntime (8× the numpy reference's speed on one core); thread-safe."""

    def __init__(self, layers: Layers, threads: int | None = None) -> None:
        import onnxruntime

        self.front = SfxFrontEnd()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            onnx_graph(layers), options, providers=["CPUExecutionProvider"]
        )

    def embed_blocks(self, blocks: np.ndarray, batch: int = 16) -> np.ndarray:
        """(n, 100, 96) → (n, 512), in batches (bounded memory for long windows)."""
        parts = [
            self.session.run(None, {"blocks": blocks[s : s + batch].astype(np.float32)})[0]
            for s in range(0, len(blocks), batch)
        ]
        return np.concatenate(parts)

    def encode(self, windows: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(windows), DIM), dtype=np.float32)
        for index, samples in enumerate(windows):
            out[index] = _unit(self.embed_blocks(self.front.blocks(samples)).mean(axis=0))
        return out


class SoundSpace:
    """Windows of mono 44.1 kHz audio → unit vectors in the `sound` space: the aiSFX vector
    and the acoustic one (of the same window at 16 kHz), scaled so that one cosine is
    a·cos_sfx + (1 − a)·cos_acoustic."""

    def __init__(self, layers: Layers | None = None) -> None:
        self.sfx = SfxEncoder(load_layers() if layers is None else layers)

    def encode(self, windows: list[np.ndarray]) -> np.ndarray:
        import soxr

        learned = self.sfx.encode(windows)
        features = acoustic.shared_features()
        heard = [
            features.analyse(soxr.resample(w, SAMPLE_RATE, acoustic.SAMPLE_RATE))[0]
            for w in windows
        ]
        stats = np.stack(heard) if heard else np.zeros((0, acoustic.DIM), np.float32)
        a = FUSION_WEIGHT
        return np.hstack([np.sqrt(a) * learned, np.sqrt(1 - a) * stats]).astype(np.float32)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-12 else vector


@functools.cache
def shared_space() -> SoundSpace:
    """One `sound` encoder per process, on the shipped weights (loaded on first use)."""
    return SoundSpace()
