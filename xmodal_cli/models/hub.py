"""Hub profiles: CLIP or SigLIP for images and text, CLAP for sound, Whisper for speech.

Each is loaded from a local folder (the Hugging Face cache or --model-path), never fetched
here. Images arrive as the same 224×224 centre crops the offline profile uses; the
normalisation below is the model's own (tests compare it with the library's processor).
Audio arrives in fixed 10-second windows at 48 kHz, so CLAP's processor never takes its
random crop. Inference runs under torch.inference_mode, in float16 on CUDA.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from xmodal_cli import config
from xmodal_cli.errors import XmodalError
from xmodal_cli.models import SPACE_ACOUSTIC, ImageEncoding, acoustic, hub_onnx, ocr
from xmodal_cli.models.registry import CLAP, CLIP_IMAGE, CLIP_TEXT, SIGLIP, ProfileSpec
from xmodal_cli.models.sight import GLANCE_SIDE, ImageWords, Picture
from xmodal_cli.models.whisper import Transcriber, Transcript
from xmodal_cli.recordings import Passage

SPACE_CLAP = "clap"
CLAP_RATE = 48_000
CLAP_SECONDS = 10.0
# Normalisation constants of the image processors (preprocessor_config.json of the models).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SIGLIP_MEAN = SIGLIP_STD = (0.5, 0.5, 0.5)


def _unit(matrix: Any) -> np.ndarray:
    array = matrix.float().cpu().numpy() if hasattr(matrix, "cpu") else np.asarray(matrix)
    array = array.astype(np.float32)
    if not np.isfinite(array).all():  # float16 overflow: never store a NaN vector
        raise XmodalError(
            "the model produced invalid numbers (NaN or infinity)",
            "run again with --device cpu (float32)",
        )
    unit: np.ndarray = array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)
    return unit


def _embedding(output: Any) -> Any:
    """get_*_features returns the tensor in older transformers, an output object in newer."""
    return getattr(output, "pooler_output", output)


def _embedding_dim(folder: Path, default: int) -> int:
    """The embedding size, from config.json alone (no weights are loaded to learn it)."""
    for name in ("config.json", "0_CLIPModel/config.json"):
        path = folder / name
        if path.is_file():
            settings = json.loads(path.read_text())
            # SigLIP has no projection: its embedding is the vision tower's width.
            vision = settings.get("vision_config") or {}
            return int(settings.get("projection_dim") or vision.get("hidden_size") or default)
    return default


def normalise_pixels(pixels: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> Any:
    """uint8 (n, h, w, 3) → float32 (n, 3, h, w), scaled to [0, 1] and standardised."""
    import torch

    scaled = pixels.astype(np.float32) / np.float32(255.0)
    standard = (scaled - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(standard.transpose(0, 3, 1, 2)))


class _Torch:
    """Device placement shared by the towers."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.half = device == "cuda"
        self.lock = threading.Lock()  # one forward pass at a time per model

    def place(self, model: Any) -> Any:
        model = model.to(self.device).eval()
        return model.half() if self.half else model

    def tensor(self, value: Any) -> Any:
        value = value.to(self.device)
        return value.half() if self.half and value.is_floating_point() else value

    def split_on_oom(self, encode: Callable[[Any], np.ndarray], batch: Any) -> np.ndarray:
        """Run `encode`; if the GPU runs out of memory, run each half instead (recursively),
        so a batch size picked too large slows a run down instead of ending it."""
        try:
            return encode(batch)
        except RuntimeError as exc:  # torch.cuda.OutOfMemoryError is a RuntimeError
            if "out of memory" not in str(exc) or len(batch) < 2:
                raise
        import torch

        torch.cuda.empty_cache()
        half = len(batch) // 2
        return np.concatenate(
            [self.split_on_oom(encode, batch[:half]), self.split_on_oom(encode, batch[half:])]
        )


class _Tower:
    """A model folder loaded on first use, once, even when two threads ask at the same time."""

    default_dim = 512

    def __init__(self, folder: Path, device: str) -> None:
        self.folder = folder
        self.torch = _Torch(device)
        self.dim = _embedding_dim(folder, self.default_dim)
        self._parts: tuple[Any, Any] | None = None
        self._loading = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        with self._loading:
            if self._parts is None:
                try:
                    self._parts = self._build()
                except Exception as exc:  # missing or damaged files, a library mismatch
                    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
                    raise XmodalError(
                        f"cannot load the model in {self.folder}: {first or type(exc).__name__}",
                        "fetch it again with `xmodal models pull NAME`",
                    ) from None
            return self._parts

    def _build(self) -> tuple[Any, Any]:
        """(model, its tokenizer or processor)."""
        raise NotImplementedError


class _VisionTextTower(_Tower):
    """An image tower (the model returned first by _build) plus text, in one space."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def encode_images(self, pixels: np.ndarray) -> np.ndarray:
        return self.torch.split_on_oom(self._encode_images, pixels)

    def _encode_images(self, pixels: np.ndarray) -> np.ndarray:
        import torch

        model, _ = self._load()
        with self.torch.lock, torch.inference_mode():
            values = self.torch.tensor(normalise_pixels(pixels, self.mean, self.std))
            return _unit(_embedding(model.get_image_features(pixel_values=values)))

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError


class ClipTowers(_VisionTextTower):
    """CLIP ViT-B/32 for images, its multilingual distilled text encoder for all text."""

    mean, std = CLIP_MEAN, CLIP_STD

    def __init__(self, image_dir: Path, text_dir: Path, device: str) -> None:
        super().__init__(image_dir, device)
        self.text_dir = text_dir

    def _build(self) -> tuple[Any, Any]:
        from sentence_transformers import SentenceTransformer

        image = self.torch.place(_clip_module(SentenceTransformer(str(self.folder), device="cpu")))
        return image, SentenceTransformer(str(self.text_dir), device=self.torch.device)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        _, model = self._load()
        with self.torch.lock:
            vectors = model.encode(texts, batch_size=32, convert_to_numpy=True)
        return _unit(vectors)


def _clip_module(wrapper: Any) -> Any:
    """The transformers CLIPModel inside a sentence-transformers CLIP folder."""
    for module in wrapper:
        inner = getattr(module, "model", None)
        if inner is not None and hasattr(inner, "get_image_features"):
            return inner
    raise TypeError("not a sentence-transformers CLIP model")


class SiglipTowers(_VisionTextTower):
    """SigLIP for images and text; texts are padded to the model's fixed length."""

    mean, std = SIGLIP_MEAN, SIGLIP_STD
    default_dim = 768

    def _build(self) -> tuple[Any, Any]:
        from transformers import AutoModel, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(self.folder))
        return self.torch.place(AutoModel.from_pretrained(str(self.folder))), tokenizer

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        model, tokenizer = self._load()
        out = []
        with self.torch.lock, torch.inference_mode():
            for start in range(0, len(texts), 32):
                # SigLIP was trained on max_length padding; shorter padding changes vectors.
                tokens = tokenizer(
                    texts[start : start + 32],
                    padding="max_length",
                    truncation=True,
                    max_length=model.config.text_config.max_position_embeddings,
                    return_tensors="pt",
                )
                ids = self.torch.tensor(tokens["input_ids"])
                out.append(_unit(_embedding(model.get_text_features(input_ids=ids))))
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)


class ClapTowers(_Tower):
    """CLAP (HTS-AT audio, RoBERTa text) for sounds and for text queries about sounds."""

    def _build(self) -> tuple[Any, Any]:
        from transformers import ClapModel, ClapProcessor

        processor = ClapProcessor.from_pretrained(str(self.folder))
        return self.torch.place(ClapModel.from_pretrained(str(self.folder))), processor

    def features(self, windows: list[np.ndarray]) -> Any:
        """Log-mel input for windows of at most CLAP_SECONDS; shorter ones are repeat-padded.

        A window never exceeds the model's 10 s, so the extractor's random crop (taken only
        from longer input) cannot happen: the same file always gives the same vectors."""
        _, processor = self._load()
        size = int(CLAP_SECONDS * CLAP_RATE)
        clipped = [np.asarray(w[:size], dtype=np.float32) for w in windows]
        return processor.feature_extractor(
            clipped,
            sampling_rate=CLAP_RATE,
            truncation="rand_trunc",  # the unfused model's mode; no window is long enough to crop
            padding="repeatpad",
            return_tensors="pt",
        )

    def encode_sounds(self, windows: list[np.ndarray]) -> np.ndarray:
        import torch

        model, _ = self._load()
        out = []
        for start in range(0, len(windows), 8):
            inputs = self.features(windows[start : start + 8])
            with self.torch.lock, torch.inference_mode():
                values = self.torch.tensor(inputs["input_features"])
                output = model.get_audio_features(input_features=values)
            out.append(_unit(_embedding(output)))
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        model, processor = self._load()
        tokens = processor.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        with self.torch.lock, torch.inference_mode():
            output = model.get_text_features(
                input_ids=self.torch.tensor(tokens["input_ids"]),
                attention_mask=self.torch.tensor(tokens["attention_mask"]),
            )
        return _unit(_embedding(output))


class HubProfile:
    """Images and documents in one vision-language space, sounds in CLAP's, speech via Whisper."""

    image_size = 224
    sound_rate: int | None = CLAP_RATE
    sound_window = CLAP_SECONDS

    def __init__(
        self,
        spec: ProfileSpec,
        folders: dict[str, Path],
        device: str = "auto",
        *,
        read_text: bool = True,
    ) -> None:
        self.name = spec.name
        self.variant = "float"  # hub towers are never quantised
        self.read_text = read_text  # False: `index --no-ocr`
        resolved = config.resolve_device(device)
        if spec.towers == "clip":
            self.towers: _VisionTextTower = ClipTowers(
                folders[CLIP_IMAGE.repo], folders[CLIP_TEXT.repo], resolved
            )
        elif spec.towers == "siglip":
            self.towers = SiglipTowers(folders[SIGLIP.repo], resolved)
        else:
            raise ValueError(f"profile {spec.name!r} names no vision-language towers")
        # Every model but the audio one makes the vision-language space.
        vision_id = "+".join(m.repo for m in spec.models if m is not CLAP)
        self.clap = ClapTowers(folders[CLAP.repo], resolved)
        self._query_text: hub_onnx.Encode = self.towers.encode_texts
        self._query_clap: hub_onnx.Encode = self.clap.encode_texts
        if resolved == "cpu":  # queries in onnxruntime: a cold search never imports torch
            self._query_text, self._query_clap = hub_onnx.query_encoders(
                spec.towers, folders, self._query_text, self._query_clap
            )
        self.text_space = spec.name
        self.spaces = {
            spec.name: self.towers.dim,
            SPACE_CLAP: self.clap.dim,
            SPACE_ACOUSTIC: acoustic.DIM,
        }
        self.model_ids = {
            spec.name: vision_id + (f"+{ocr.MODEL_ID}" if read_text else ""),
            SPACE_CLAP: CLAP.repo,
            SPACE_ACOUSTIC: acoustic.MODEL_ID,
        }
        self.like_spaces = {
            "image": spec.name,
            "text": spec.name,
            "audio": SPACE_CLAP,
            "video": spec.name,  # a video is like another by its frames
        }
        self.passage_words = spec.passage_words  # a passage should fit, not be cut in half
        # The words read in a picture become its passages, as in lite; people are not
        # described: these towers see them in the picture's own vector.
        self._sight = ImageWords(
            read_text=read_text, passage_words=self.passage_words, find_people=False
        )
        self.glance_side = GLANCE_SIDE
        self._transcriber = Transcriber(device)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return self.towers.encode_texts(texts)

    def encode_query(self, text: str, spaces: frozenset[str]) -> dict[str, np.ndarray]:
        # Only what is asked: `--type image` never loads CLAP.
        out = {}
        if self.text_space in spaces:
            out[self.text_space] = self._query_text([text])[0]
        if SPACE_CLAP in spaces:
            out[SPACE_CLAP] = self._query_clap([text])[0]
        return out

    def query_spaces(self, modality: str) -> tuple[str, ...]:
        # A recording (or a video's soundtrack) is found by what it sounds like (CLAP) and
        # by what is said in it.
        if modality in ("audio", "video"):
            return (self.text_space, SPACE_CLAP)
        return (self.text_space,)

    def encode_images(self, pixels: np.ndarray) -> ImageEncoding:
        vectors = self.towers.encode_images(pixels)
        return ImageEncoding(vectors={self.text_space: vectors}, captions=[""] * len(pixels))

    def encode_sounds(self, windows: list[np.ndarray]) -> dict[str, np.ndarray]:
        return {SPACE_CLAP: self.clap.encode_sounds(windows)}

    def image_passages(self, picture: Picture, small: np.ndarray | None = None) -> list[Passage]:
        """The words written in a picture, as passages (see LiteProfile.image_passages)."""
        return self._sight.passages(picture, small)

    def transcribe(
        self, samples: np.ndarray, cancelled: Callable[[], bool] = lambda: False
    ) -> Transcript:
        return self._transcriber.transcribe(samples, cancelled)
