"""The acoustic space and named sound traits, from one short-time spectrum per window.

No offline audio embedding network installs from a wheel here, so the acoustic space is a
fixed, hand-built one: the spectral shape (log-mel bands relative to their mean, so loudness
does not matter), how much each band varies over time, how often new sounds start, the
harmony (chroma) and a few scalars. Each group is normalised and weighted, so no single
group dominates the cosine. Statistics are taken over the sounding frames only, which makes
a trimmed, padded, resampled or re-encoded copy land next to its original.

The same spectrum yields traits a person can name (silence, a pure tone, noise and its
colour, a steady beat, a short hit, loud/quiet, bass/bright), which become words in the
shared text space.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

MODEL_ID = "acoustic-stats-v1(mel64,sr16k)"
SAMPLE_RATE = 16_000
N_FFT = 1024
HOP = 256
N_MELS = 64
_FLUX_BANDS = 16
_SCALARS = 6
DIM = N_MELS * 2 + _FLUX_BANDS + 12 + _SCALARS

SILENCE_DB = -55.0  # below this RMS (dBFS) a window is silence
# Weights per feature group (after each is unit-normalised): shape, spread, onsets, chroma,
# scalars.
_WEIGHTS = (1.0, 0.6, 0.5, 0.4, 1.0)  # tuned with bench/audio_similarity.py


@dataclass
class WindowTraits:
    """Measured properties of one window, the raw material for descriptor words."""

    seconds: float
    rms_db: float  # over sounding frames
    sounding: float  # fraction of frames above the activity threshold
    flatness: float  # 0 tonal … ~0.56 white noise
    tilt: float  # dB per octave of the power spectrum: white ≈ 0, pink ≈ -3, brown ≈ -6
    tone_hz: float | None  # set when one steady frequency carries the sound
    centroid_hz: float
    onsets_per_second: float
    beat_strength: float  # autocorrelation peak of the onset envelope at 60-180 BPM
    tempo_bpm: float | None
    attack_decay: bool  # loud at the start, then fading: a hit, a knock, a drum

    @property
    def silent(self) -> bool:
        return self.rms_db < SILENCE_DB


class SpectralFeatures:
    """Filter banks built once; `analyse` is then pure numpy (safe from several threads)."""

    def __init__(self) -> None:
        import librosa.filters

        self.mel_bank = librosa.filters.mel(
            sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=30, fmax=SAMPLE_RATE / 2
        ).astype(np.float32)
        self.chroma_bank = librosa.filters.chroma(sr=SAMPLE_RATE, n_fft=N_FFT).astype(np.float32)
        self.window = np.hanning(N_FFT).astype(np.float32)
        self.freqs = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)

    def analyse(self, samples: np.ndarray) -> tuple[np.ndarray, WindowTraits]:
        """Unit vector in the acoustic space, and the traits, of mono 16 kHz samples."""
        samples = np.asarray(samples, dtype=np.float32)
        seconds = len(samples) / SAMPLE_RATE
        if len(samples) < N_FFT:
            samples = np.pad(samples, (0, N_FFT - len(samples)))
        frames = np.lib.stride_tricks.sliding_window_view(samples, N_FFT)[::HOP]
        power = np.abs(np.fft.rfft(frames * self.window, axis=1)) ** 2  # (T, bins)
        frame_rms_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
        loudest = float(frame_rms_db.max())
        if loudest < SILENCE_DB:
            return _silent_vector(), _silent_traits(seconds, loudest)
        # Relative to the loudest frame, so a quieter copy keeps the same frames.
        active = frame_rms_db > max(-90.0, loudest - 40)
        mel_db = 10 * np.log10(power @ self.mel_bank.T + 1e-10)  # (T, mels)
        # A 60 dB floor under the loudest band: what lies below it is the codec's or the
        # dither's noise, and must not tell an MP3 copy from its WAV original.
        mel_db = np.maximum(mel_db, mel_db.max() - 60)
        sounding = mel_db[active]
        # Frames weigh by their energy: the body of a sound counts, not its fading tail or a
        # few frames of attack, which trimming removes first.
        weight = 10 ** (frame_rms_db[active] / 10)
        weight = weight / weight.sum()

        shape = weight @ sounding
        spread = np.sqrt(weight @ (sounding - shape) ** 2) - 4.0  # a steady band varies ~4 dB
        shape -= shape.mean()
        flux = np.maximum(np.diff(mel_db, axis=0), 0.0) if len(mel_db) > 1 else mel_db * 0
        flux_bands = flux.reshape(len(flux), _FLUX_BANDS, -1).mean(axis=2).mean(axis=0) - 1.0
        chroma = self.chroma_bank @ power[active].mean(axis=0)
        chroma = chroma / max(float(chroma.sum()), 1e-12) - 1 / 12

        traits = self._traits(samples, seconds, power, active, frame_rms_db, flux)
        scalars = np.array(
            [
                traits.flatness * 4 - 1,
                (np.log2(max(traits.centroid_hz, 50.0)) - 10) / 2,
                min(traits.onsets_per_second, 10) / 5 - 0.5,
                traits.beat_strength * 2 - 0.5,
                np.log10(max(seconds, 0.05)) / 2,
                traits.tilt / 6,
            ],
            dtype=np.float32,
        )
        groups = (shape / 10, spread / 10, flux_bands, chroma * 4, scalars)
        parts = [w * _unit(g) for w, g in zip(_WEIGHTS, groups, strict=True)]
        return _unit(np.concatenate(parts)).astype(np.float32), traits

    def _traits(
        self,
        samples: np.ndarray,
        seconds: float,
        power: np.ndarray,
        active: np.ndarray,
        frame_rms_db: np.ndarray,
        flux: np.ndarray,
    ) -> WindowTraits:
        band = (self.freqs > 60) & (self.freqs < 7500)
        p = power[active][:, band]
        p = np.maximum(p, p.max() * 1e-6 + 1e-12)  # the same 60 dB floor as the mel bands
        spectrum = p.mean(axis=0)
        octaves = np.log2(self.freqs[band])
        slope, intercept = np.polyfit(octaves, 10 * np.log10(spectrum), 1)
        tilt = float(slope)
        centroid = float((spectrum * self.freqs[band]).sum() / spectrum.sum())
        # Flatness after removing the overall tilt: brown and pink noise are as "flat" as
        # white noise around their slope, while any pitched sound keeps its peaks.
        level = 10 ** ((slope * octaves + intercept) / 10)
        whitened = p / level
        flatness = float(np.median(np.exp(np.log(whitened).mean(axis=1)) / whitened.mean(axis=1)))

        # A pure tone: nearly all of each frame's energy sits within two bins of one peak,
        # and the peak stays put.
        peaks = p.argmax(axis=1)
        rows = np.arange(len(p))
        near = sum(p[rows, np.clip(peaks + d, 0, p.shape[1] - 1)] for d in range(-2, 3))
        concentration = float(np.median(near / p.sum(axis=1)))
        tone_hz = None
        if concentration > 0.85 and np.std(peaks) < 1.5:
            tone_hz = _peak_frequency(spectrum, self.freqs[band])

        envelope = flux.sum(axis=1) if len(flux) else np.zeros(1)
        onsets = _count_peaks(envelope)
        tempo, beat = _tempo(envelope)
        rms = 10 * np.log10(np.mean(samples**2) + 1e-12)
        sounding_rms = float(10 * np.log10(np.mean(10 ** (frame_rms_db[active] / 10))))
        quarter = max(1, len(frame_rms_db) // 4)
        attack_decay = (
            seconds < 3
            and int(frame_rms_db.argmax()) < quarter
            and frame_rms_db[-quarter:].min() < frame_rms_db.max() - 9
        )
        return WindowTraits(
            seconds=seconds,
            rms_db=sounding_rms if rms > SILENCE_DB else float(rms),
            sounding=float(active.mean()),
            flatness=flatness,
            tilt=tilt,
            tone_hz=tone_hz,
            centroid_hz=centroid,
            onsets_per_second=onsets / max(seconds, 1e-3),
            beat_strength=beat,
            tempo_bpm=tempo,
            attack_decay=bool(attack_decay),
        )


def _peak_frequency(spectrum: np.ndarray, freqs: np.ndarray) -> float:
    """The peak's frequency, refined between bins by a parabola through the log power."""
    i = int(np.argmax(spectrum))
    if 0 < i < len(spectrum) - 1:
        a, b, c = np.log(spectrum[i - 1 : i + 2])
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c else 0.0
        return float(freqs[i] + shift * (freqs[1] - freqs[0]))
    return float(freqs[i])


def _count_peaks(envelope: np.ndarray) -> int:
    if len(envelope) < 3:
        return 0
    threshold = envelope.mean() + 2 * envelope.std()
    inner = envelope[1:-1]
    return int(((inner > envelope[:-2]) & (inner >= envelope[2:]) & (inner > threshold)).sum())


def _tempo(envelope: np.ndarray) -> tuple[float | None, float]:
    """(BPM, strength) from the autocorrelation of the onset envelope; needs a few seconds."""
    frame_rate = SAMPLE_RATE / HOP
    shortest, longest = int(frame_rate * 60 / 180), int(frame_rate * 60 / 60)
    if len(envelope) < longest * 3:
        return None, 0.0
    centred = envelope - envelope.mean()
    acf = np.correlate(centred, centred, mode="full")[len(centred) - 1 :]
    if acf[0] <= 0:
        return None, 0.0
    acf = acf / acf[0]
    lag = shortest + int(np.argmax(acf[shortest : longest + 1]))
    strength = float(max(acf[lag], 0.0))
    return round(60 * frame_rate / lag), strength


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-12 else vector


def _silent_vector() -> np.ndarray:
    # Every silent window shares one direction, so silence finds silence.
    vector = np.zeros(DIM, dtype=np.float32)
    vector[-2] = 1.0
    return vector


def _silent_traits(seconds: float, rms_db: float) -> WindowTraits:
    return WindowTraits(seconds, rms_db, 0.0, 0.0, 0.0, None, 0.0, 0.0, 0.0, None, False)


@functools.cache
def shared_features() -> SpectralFeatures:
    """One set of filter banks per process (they are read-only once built)."""
    return SpectralFeatures()
