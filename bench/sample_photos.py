"""Copy the real photos that ship inside scikit-image, scikit-learn and matplotlib.

Used by the README quick start, the tests and the benchmarks, so every machine has the same
real (not synthetic) pictures without any download.

    python -m bench.sample_photos DEST
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# file name -> what a person sees in it (used as ground truth by tests and benchmarks)
SKIMAGE = {
    "astronaut.png": "astronaut Eileen Collins in an orange spacesuit in front of a flag",
    "chelsea.png": "a tabby cat",
    "coffee.png": "a cup of coffee on a saucer",
    "rocket.jpg": "a rocket on the launch pad",
    "motorcycle_right.png": "a motorcycle",
    "hubble_deep_field.jpg": "galaxies in deep space",
    "horse.png": "silhouette of a horse",
    "camera.png": "a man with a camera on a tripod",
    "brick.png": "a brick wall",
    "grass.png": "grass",
    "gravel.png": "gravel",
    "coins.png": "old coins",
    "moon.png": "surface of the moon",
    "page.png": "a page of printed text",
    "retina.jpg": "a retina fundus photograph",
    "ihc.png": "stained tissue under a microscope",
    "cell.png": "a cell under a microscope",
    "clock_motion.png": "a clock, motion blurred",
    "color.png": "colour test pattern",
    "logo.png": "the scikit-image logo",
}
SKLEARN = {"china.jpg": "a Chinese temple", "flower.jpg": "a flower"}
MATPLOTLIB = {"grace_hopper.jpg": "Grace Hopper in navy uniform"}


def _sources() -> dict[str, Path]:
    import matplotlib
    import skimage
    import sklearn

    out: dict[str, Path] = {}
    skimage_dir = Path(skimage.__file__).parent / "data"
    out.update({name: skimage_dir / name for name in SKIMAGE})
    sklearn_dir = Path(sklearn.__file__).parent / "datasets" / "images"
    out.update({name: sklearn_dir / name for name in SKLEARN})
    mpl_dir = Path(matplotlib.__file__).parent / "mpl-data" / "sample_data"
    out.update({name: mpl_dir / name for name in MATPLOTLIB})
    return {name: path for name, path in out.items() if path.exists()}


def copy_sample_photos(dest: Path) -> list[Path]:
    """Copy every available sample photo into `dest`; returns the new paths."""
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, source in sorted(_sources().items()):
        target = dest / name
        shutil.copyfile(source, target)
        copied.append(target)
    return copied


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "sample-photos")
    photos = copy_sample_photos(target)
    print(f"copied {len(photos)} photos to {target}", file=sys.stderr)
