"""Decode files in worker threads: bytes → pixels, passages, or a recording's items.

What comes back is small and ready to encode; a file that cannot be used raises DecodeError
with a one-line reason. Recordings are analysed in full in the worker (acoustic vectors,
transcript), so a long podcast never waits in the queue as raw samples.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xmodal_cli.errors import XmodalError
from xmodal_cli.media import DecodeError, read_failure
from xmodal_cli.media.documents import LabelledChunk, PageReader, document_chunks, is_document
from xmodal_cli.media.image import decode_image
from xmodal_cli.media.text import chunk_text, read_text, title_words
from xmodal_cli.models import Profile
from xmodal_cli.models.sight import PEOPLE
from xmodal_cli.planner import content_hash
from xmodal_cli.recordings import Passage, analyse_for
from xmodal_cli.scan import FileRecord
from xmodal_cli.store.rows import NewItem
from xmodal_cli.videos import analyse_video


@dataclass
class Decoded:
    """One file ready to encode: an image's pixels, text-space passages, ready-made items."""

    record: FileRecord
    digest: str
    pixels: np.ndarray | None = None
    passages: list[Passage] = field(default_factory=list)  # encoded into the text space
    encoded: list[NewItem] = field(default_factory=list)  # vectors made while decoding
    info: dict[str, Any] = field(default_factory=dict)


class DecoderBug(DecodeError):
    """An unexpected exception in a decoder: the file is skipped, its old rows are kept."""


def decode_file(
    record: FileRecord, profile: Profile, cancelled: Callable[[], bool] = lambda: False
) -> Decoded:
    """Hash and decode one file, or raise DecodeError."""
    try:
        digest = content_hash(record.path, record.size)
    except OSError as exc:
        raise read_failure(exc) from None
    if record.size == 0:
        raise DecodeError("empty file")
    if record.modality == "image":
        # A profile that sees more than its classifier does (lite: people, words in the
        # picture) adds text-space passages here, in the worker thread, starting from the
        # whole picture decoded with the classifier's square.
        seen = getattr(profile, "image_passages", None)
        image = decode_image(record.path, whole=getattr(profile, "glance_side", 0))
        passages = seen(record.path, image.whole) if seen is not None else []
        return Decoded(record, digest, pixels=image.pixels, passages=passages, info=image.info)
    if record.modality == "audio":
        recording = analyse_for(record.path, profile, cancelled=cancelled)
        windows = [NewItem(w.space, w.position, w.snippet, w.vector) for w in recording.windows]
        return Decoded(
            record, digest, passages=recording.passages, encoded=windows, info=recording.info
        )
    if record.modality == "video":
        # Frames are encoded here, batch by batch, as they are read (videos.py).
        video = analyse_video(record.path, profile, cancelled=cancelled)
        return Decoded(
            record, digest, passages=video.passages, encoded=video.items, info=video.info
        )
    info: dict[str, Any] = {}
    if is_document(record.path):  # PDF, Word, OpenDocument, EPUB: passages say the page
        words, reader = profile.passage_words, page_reader(profile)
        chunks = document_chunks(
            record.path, words, cancelled=cancelled, read_page=reader, info=info
        )
    else:
        text = read_text(record.path)
        chunks = [LabelledChunk("", c.text) for c in chunk_text(text, profile.passage_words)]
    title = title_words(record.path)
    # The file name often says what a note is about ("tax_receipt_2023.txt"), so each
    # passage is encoded with it; the snippet shown is the passage and its page ("p. 3 · …").
    passages = [
        Passage(
            number,
            f"{title}: {c.text}" if title else c.text,
            f"{c.label} · {c.text}" if c.label else c.text,
        )
        for number, c in enumerate(chunks)
    ]
    return Decoded(record, digest, passages=passages, info=info)


def page_reader(profile: Profile) -> PageReader | None:
    """The words a profile reads in a picture (unless `--no-ocr`), for scanned PDF pages;
    the people passage is left out (a page is not a photo)."""
    seen: Callable[..., list[Passage]] | None = getattr(profile, "image_passages", None)
    if seen is None or not getattr(profile, "read_text", False):
        return None

    def read(picture: Any) -> list[str]:
        found = seen(np.asarray(picture.convert("RGB"), dtype=np.uint8))
        return [p.text for p in found if p.position != PEOPLE]

    return read


def decoded_stream(
    records: list[FileRecord],
    profile: Profile,
    *,
    workers: int,
    window: int,
) -> Generator[tuple[FileRecord, Decoded | DecodeError], None, None]:
    """Decode in a thread pool, yielding in input order with at most `window` in flight.

    When the consumer stops early (Ctrl-C, an error), running decodes give up between
    blocks instead of finishing, and queued ones never start."""
    stop = threading.Event()
    with ThreadPoolExecutor(
        max_workers=max(1, workers), thread_name_prefix="xmodal-decode"
    ) as pool:
        pending: deque[tuple[FileRecord, Future[Decoded]]] = deque()
        try:
            for record in records:
                pending.append((record, pool.submit(decode_file, record, profile, stop.is_set)))
                if len(pending) >= window:
                    yield _result(*pending.popleft())
            while pending:
                yield _result(*pending.popleft())
        finally:
            stop.set()
            for _, future in pending:
                future.cancel()


def _result(
    record: FileRecord, future: Future[Decoded]
) -> tuple[FileRecord, Decoded | DecodeError]:
    try:
        return record, future.result()
    except DecodeError as exc:
        return record, exc
    except XmodalError:
        raise  # a model that cannot load fails every file alike: stop with its message
    except Exception as exc:  # a decoder bug must not kill a long run; report and go on
        return record, DecoderBug(f"unexpected error: {type(exc).__name__}: {exc}")
