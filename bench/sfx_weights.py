"""Remake xmodal_cli/models/data/aisfx-int8.npz from the aisfx wheel (run once, by hand).

    pip download aisfx==0.1.2 --no-deps -d /tmp/aisfx
    python -m bench.sfx_weights /tmp/aisfx/aisfx-0.1.2-py2.py3-none-any.whl

The checkpoint is read out of the wheel (a zip; nothing is installed or imported from it),
checked against its SHA-256 before torch unpickles it, and converted by
`xmodal_cli.models.sfx.convert`. Prints the new file's size and SHA-256 (the value of
`sfx.WEIGHTS_SHA256`) as one JSON line.
"""

from __future__ import annotations

import argparse
import tempfile
import zipfile
from pathlib import Path

from bench.harness import emit
from xmodal_cli.models import sfx

CHECKPOINT = "aisfx/models/checkpoint.pth"


def main(wheel: Path, target: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as temp, zipfile.ZipFile(wheel) as archive:
        checkpoint = Path(temp) / "checkpoint.pth"
        checkpoint.write_bytes(archive.read(CHECKPOINT))
        sfx.convert(checkpoint, target)
    return {"target": str(target), "bytes": target.stat().st_size, "sha256": sfx.sha256(target)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="aisfx-0.1.2-py2.py3-none-any.whl")
    parser.add_argument("--to", type=Path, default=sfx.WEIGHTS, help="where to write the .npz")
    arguments = parser.parse_args()
    emit(main(arguments.wheel, arguments.to))
