"""What runs on a Ray worker for `xmodal index --ray` (see distributed.py for the driver).

An `EncodeWorker` actor loads the index's profile once, then decodes and encodes batches of
files: at the driver's paths (a shared mount), or from bytes the driver shipped, written to
temporary copies that keep the file's name and its folder's name (both feed the vectors:
passages are titled by the file name, a recording's description names its folder), so a
shipped run stores what a shared-path run stores. Copies of a worker that was killed are
removed by the next worker that starts on that machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from xmodal_cli import config
from xmodal_cli.decoder import Decoded, decoded_stream
from xmodal_cli.indexer import Encoded, Outcomes, encode_items
from xmodal_cli.models import load_profile
from xmodal_cli.scan import FileRecord

DECODE_THREADS = 2  # per worker, as locally: decoding overlaps encoding

# (file, its bytes when shipped) — what one batch sends to a worker
Work = list[tuple[FileRecord, bytes | None]]


@dataclass
class Returned:
    """One batch back from a worker."""

    outcomes: Outcomes
    pid: int
    seconds: float
    images: int
    received: int  # bytes shipped to it


class EncodeWorker:
    """A Ray actor: loads the profile once, then decodes and encodes batches of files."""

    def __init__(
        self, name: str, model_ids: dict[str, str], model_path: str | None, device: str
    ) -> None:
        import numpy as np

        started = time.perf_counter()
        self.device = device
        self.profile = load_profile(
            name,
            device=device,
            model_path=Path(model_path) if model_path else None,
            model_ids=model_ids,
        )
        # Weights load now, not inside the first batch: per-worker rates stay comparable.
        self.profile.encode_texts(["warm up"])
        size = self.profile.image_size
        self.profile.encode_images(np.zeros((1, size, size, 3), dtype=np.uint8))
        self.load_s = time.perf_counter() - started
        self.scratch = _scratch_dir()

    def ready(self) -> dict[str, Any]:
        """Who this worker is and what it loaded (a cheap call: also the liveness ping)."""
        return {
            "pid": os.getpid(),
            "node": socket.gethostname(),
            "model_ids": self.profile.model_ids,
            "batch_size": config.batch_size(None, self.device),
            "load_s": self.load_s,
        }

    def encode(self, work: Work) -> Returned:
        """Decode and encode one batch; per-file failures come back as DecodeErrors."""
        started = time.perf_counter()
        records = [record for record, _ in work]
        received = sum(len(blob) for _, blob in work if blob is not None)
        with _local_copies(work, self.scratch) as local:
            stream = decoded_stream(
                local, self.profile, workers=DECODE_THREADS, window=max(1, len(local))
            )
            decoded = [outcome for _, outcome in stream]
        files = [outcome for outcome in decoded if isinstance(outcome, Decoded)]
        vectors = iter(encode_items(files, self.profile))
        outcomes: Outcomes = [
            # the driver's path, not a temporary copy's; no pixels go back over the wire
            (record, Encoded(record, o.digest, None, o.passages, next(vectors), o.info))
            if isinstance(o, Decoded)
            else (record, o)
            for record, o in zip(records, decoded, strict=True)
        ]
        images = sum(d.pixels is not None for d in files)
        return Returned(outcomes, os.getpid(), time.perf_counter() - started, images, received)


@contextlib.contextmanager
def _local_copies(work: Work, scratch: Path) -> Iterator[list[FileRecord]]:
    """The batch's records as this worker reads them: the driver's paths, or temporary
    copies of shipped bytes at <scratch>/<n>/<folder name>/<file name>."""
    if all(blob is None for _, blob in work):
        yield [record for record, _ in work]
        return
    folder = Path(tempfile.mkdtemp(dir=scratch))
    try:
        local = []
        for n, (record, blob) in enumerate(work):
            parent = os.path.basename(os.path.dirname(record.path))
            copy = folder / str(n) / parent / os.path.basename(record.path)
            copy.parent.mkdir(parents=True)
            fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob or b"")
            local.append(replace(record, path=str(copy)))
        yield local
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _scratch_dir() -> Path:
    """This worker's folder for shipped bytes; folders of workers that died are removed."""
    base = Path(tempfile.gettempdir())
    for old in base.glob("xmodal-ray-*"):
        pid = old.name.split("-")[2]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"xmodal-ray-{os.getpid()}-"))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
