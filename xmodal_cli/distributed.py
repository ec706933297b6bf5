"""Indexing on a Ray cluster (`xmodal index --ray`): workers decode and encode, this process
plans and commits.

The driver plans exactly as a local run does (planner.py), then hands batches of files to a
pool of Ray actors and commits each batch through the store's one write protocol
(store/vectors.py) as it comes back: the driver stays the only writer of the catalog and the
FAISS files, so a driver killed mid-run behaves like a local kill (what was committed stays,
the next run continues) and its actors die with it (Ray's owner fate-sharing).

Why actors driven directly, not Ray Data's `map_batches`: an actor loads the profile once
and reports its pid and node, which gives per-worker throughput and restarts; the driver
already holds the plan, so a second planner (Ray Data's streaming executor, which needs
pyarrow and pandas) would add nothing but install size; backpressure is two batches per
worker (one running, one queued so no worker waits on a round trip), so a million-file plan
never has more than `2 × workers` batches in flight; and a worker that dies is handled per
batch: Ray restarts the actor (`max_restarts=-1`) and retries its queued tasks
(`max_task_retries`). A batch whose retries all crash is split into single files, and a
file that still crashes its worker is skipped ("unexpected error: ..."), never lost: each
task's result is committed exactly once, when it arrives. Ctrl-C kills the run's actors, so
no cluster work outlives the run.

Workers (ray_worker.py) read files at the driver's paths (a shared mount), or with
`ship_bytes` the driver reads each file and sends its bytes (batches cut at 64 MiB).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from xmodal_cli import config
from xmodal_cli.decoder import Decoded, DecoderBug
from xmodal_cli.errors import UsageError, XmodalError
from xmodal_cli.indexer import RECORDINGS_PER_COMMIT, IndexOptions, Outcomes
from xmodal_cli.media import DecodeError, open_regular, read_failure
from xmodal_cli.models import Profile
from xmodal_cli.ray_worker import EncodeWorker, Returned, Work
from xmodal_cli.scan import FileRecord

RAY_HINT = "pip install 'xmodal[ray]'"
DEPTH = 2  # batches per worker: one running, one queued
TASK_RETRIES = 3  # Ray's retries of a batch whose worker died
PING_TIMEOUT_S = 300.0  # a restarted worker reloads its models before it answers
SHIP_BATCH_BYTES = 64 * 2**20  # --ship-bytes: a batch is cut at this many bytes
CRASHED = "unexpected error: the Ray worker crashed on this file"


@dataclass(frozen=True)
class RayOptions:
    """How to use the cluster: where it is, whether to ship bytes, how many workers."""

    address: str = "auto"
    ship_bytes: bool = False
    workers: int | None = None  # None: one per GPU, else one per 2 CPUs of the cluster
    batch_size: int | None = None  # None: what each worker's device suggests


def require_ray() -> ModuleType:
    """The ray module, or a usage error that says how to install it."""
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray, which is not installed", RAY_HINT) from None
    return ray


@dataclass
class _Slot:
    """The driver's view of one worker: its handle, queue and throughput."""

    index: int
    actor: Any
    batch_size: int
    node: str
    load_s: float
    pids: list[int] = field(default_factory=list)
    inflight: int = 0
    files: int = 0
    images: int = 0
    items: int = 0
    skipped: int = 0
    busy_s: float = 0.0
    received: int = 0

    def note(self, returned: Returned) -> None:
        if not self.pids or self.pids[-1] != returned.pid:
            self.pids.append(returned.pid)
        for _, outcome in returned.outcomes:
            if isinstance(outcome, Decoded):
                self.files += 1
                self.items += len(outcome.encoded)
            else:
                self.skipped += 1
        self.images += returned.images
        self.busy_s += returned.seconds
        self.received += returned.received

    def as_dict(self) -> dict[str, Any]:
        busy = max(self.busy_s, 1e-9)
        return {
            "worker": self.index,
            "node": self.node,
            "pid": self.pids[-1] if self.pids else None,
            "restarts": max(0, len(self.pids) - 1),
            "files": self.files,
            "images": self.images,
            "items": self.items,
            "skipped": self.skipped,
            "busy_s": round(self.busy_s, 3),
            "files_per_s": round(self.files / busy, 2) if self.files else 0.0,
            "images_per_s": round(self.images / busy, 2) if self.images else 0.0,
            "load_s": round(self.load_s, 3),
            "shipped_bytes": self.received,
        }


class RayEncoder:
    """A RemoteEncoder (indexer.py) on a Ray cluster; `connect` makes one."""

    def __init__(self, options: RayOptions, *, owns_ray: bool) -> None:
        self.options = options
        self._owns_ray = owns_ray
        self._slots: list[_Slot] = []
        self._finished: list[_Slot] = []

    def workers(self) -> list[dict[str, Any]]:
        """Per-worker throughput of the last run (for --json)."""
        return [slot.as_dict() for slot in sorted(self._finished + self._slots, key=_index)]

    def pids(self) -> list[int]:
        """Process ids of the live workers (their latest incarnation)."""
        return [slot.pids[-1] for slot in self._slots if slot.pids]

    def encoded(
        self, records: list[FileRecord], profile: Profile, options: IndexOptions
    ) -> Generator[Outcomes, None, None]:
        """Batches of `records` decoded and encoded by the workers, as they finish."""
        ray = require_ray()
        if not records:
            return
        self._finished = []
        self._slots = self._start(ray, profile, len(records))
        feed = _Feed(iter(records), ship=self.options.ship_bytes)
        inflight: dict[Any, tuple[_Slot, Work]] = {}
        retry: deque[Work] = deque()
        try:
            while True:
                for slot in self._slots:
                    while slot.inflight < DEPTH:
                        work = retry.popleft() if retry else feed.take(slot.batch_size)
                        if not work:
                            break
                        inflight[slot.actor.encode.remote(work)] = (slot, work)
                        slot.inflight += 1
                if feed.failed:
                    yield feed.drain()
                if not inflight:
                    return
                done, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
                for ref in done:
                    slot, work = inflight.pop(ref)
                    slot.inflight -= 1
                    returned = self._collect(ray, ref, slot, work, retry)
                    if returned is not None:
                        slot.note(returned)
                        yield returned.outcomes
        finally:
            self._stop(ray)

    def _collect(
        self, ray: ModuleType, ref: Any, slot: _Slot, work: Work, retry: deque[Work]
    ) -> Returned | None:
        """A finished batch's result, or None when its worker died with it (then the batch,
        or each of its files, goes back in the queue; a lone file that kills its worker
        every time comes back as a skip)."""
        try:
            returned: Returned = ray.get(ref)
            return returned
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, XmodalError):
                raise cause from None  # a model that cannot load fails every file alike
            first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
            raise XmodalError(
                f"a Ray worker failed: {type(cause).__name__}: {first}"[:300],
                "everything committed before this is intact; run the same command to finish",
            ) from None
        except (ray.exceptions.RayActorError, ray.exceptions.OutOfMemoryError):
            pass
        if slot not in self._slots or not self._alive(ray, slot):
            if slot in self._slots:
                self._slots.remove(slot)
                self._finished.append(slot)
            if not self._slots:
                raise XmodalError(
                    "every Ray worker died",
                    "see `ray status` and the workers' logs; what was committed is kept",
                ) from None
            retry.appendleft(work)
        elif len(work) > 1:
            retry.extendleft([one] for one in reversed(work))
        else:
            record = work[0][0]
            return Returned([(record, DecoderBug(CRASHED))], -1, 0.0, 0, 0)
        return None

    def _alive(self, ray: ModuleType, slot: _Slot) -> bool:
        try:
            info = ray.get(slot.actor.ready.remote(), timeout=PING_TIMEOUT_S)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            return False
        slot.pids.append(int(info["pid"]))
        return True

    def _start(self, ray: ModuleType, profile: Profile, files: int) -> list[_Slot]:
        """The run's actors, each with its profile loaded and checked against the index's."""
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        count = self.options.workers or (gpus or max(1, int(resources.get("CPU", 1)) // 2))
        count = max(1, min(count, files))
        actor_class = ray.remote(EncodeWorker)
        model_path = config.model_path(None)
        actors = [
            actor_class.options(
                num_cpus=1,
                num_gpus=1 if gpus else 0,
                max_restarts=-1,
                max_task_retries=TASK_RETRIES,
                name=f"xmodal-encode-{os.getpid()}-{i}",
            ).remote(
                profile.name,
                dict(profile.model_ids),
                str(model_path) if model_path else None,
                "cuda" if gpus else "cpu",
            )
            for i in range(count)
        ]
        slots = []
        try:
            infos = ray.get([actor.ready.remote() for actor in actors])
        except ray.exceptions.RayActorError as exc:
            _kill(ray, actors)
            cause = getattr(exc, "cause", None) or exc
            if isinstance(cause, XmodalError):
                raise cause from None
            raise XmodalError(
                f"Ray workers could not start: {str(cause).strip().splitlines()[0]}"[:300],
                "every worker needs xmodal and its models installed (pip install 'xmodal[ray]')",
            ) from None
        except BaseException:
            _kill(ray, actors)
            raise
        for i, (actor, info) in enumerate(zip(actors, infos, strict=True)):
            if info["model_ids"] != profile.model_ids:
                _kill(ray, actors)
                raise XmodalError(
                    f"Ray worker {i} built other models than this index's: {info['model_ids']}",
                    "install the same xmodal version on the workers as here",
                )
            batch = self.options.batch_size or int(info["batch_size"])
            slots.append(_Slot(i, actor, batch, str(info["node"]), float(info["load_s"])))
            slots[-1].pids.append(int(info["pid"]))
        return slots

    def _stop(self, ray: ModuleType) -> None:
        """End the run's actors: nothing keeps working for a run that is over or cancelled."""
        _kill(ray, [slot.actor for slot in self._slots])
        self._finished += self._slots
        self._slots = []

    def close(self) -> None:
        """Disconnect from the cluster if `connect` connected."""
        if self._owns_ray:
            require_ray().shutdown()

    def __enter__(self) -> RayEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(options: RayOptions) -> RayEncoder:
    """Join the cluster at `options.address` (or use the Ray this process already joined)."""
    ray = require_ray()
    if ray.is_initialized():
        return RayEncoder(options, owns_ray=False)
    try:
        _check_reachable(options.address)  # Ray itself retries an unreachable head for minutes
        ray.init(
            address=options.address,
            logging_level=logging.ERROR,
            log_to_driver=False,
            configure_logging=True,
        )
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise XmodalError(
            f"cannot join the Ray cluster at {options.address}: {first}"[:300],
            "start one with `ray start --head`, or give its address (HOST:6379, "
            "ray://HOST:10001); a cluster with token auth and an explicit address also "
            "needs RAY_AUTH_MODE=token here",
        ) from None
    return RayEncoder(options, owns_ray=True)


def cluster(
    address: str | None, *, ship_bytes: bool, workers: int | None, batch_size: int | None
) -> RayEncoder | None:
    """The CLI's --ray: a connected encoder, or None (and the Ray-only options refused).
    The connection ends with the process (`ray.init` registers its shutdown at exit)."""
    if address is None:
        if ship_bytes or workers is not None:
            option = "--ship-bytes" if ship_bytes else "--ray-workers"
            raise UsageError(f"{option} needs --ray", "xmodal index PATHS --ray auto")
        return None
    return connect(RayOptions(address, ship_bytes, workers, batch_size))


def _check_reachable(address: str) -> None:
    """Raise OSError unless something listens at HOST:PORT (or ray://HOST:PORT); `auto`
    is checked by Ray itself, at once."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address != "auto" and host and port.isdigit():
        socket.create_connection((host, int(port)), timeout=5).close()


class _Feed:
    """Hands out batches of the plan lazily; with `ship`, reads their bytes here (a file
    that cannot be read is a skip with the same reason as a local run gives)."""

    def __init__(self, records: Iterator[FileRecord], *, ship: bool) -> None:
        self.records = records
        self.ship = ship
        self.failed: Outcomes = []

    def take(self, size: int) -> Work:
        work: Work = []
        shipped = recordings = 0
        while (
            len(work) < size and shipped < SHIP_BATCH_BYTES and recordings < RECORDINGS_PER_COMMIT
        ):
            record = next(self.records, None)
            if record is None:
                break
            blob = _read(record) if self.ship else None
            if isinstance(blob, DecodeError):
                self.failed.append((record, blob))
                continue
            shipped += len(blob) if blob is not None else 0
            recordings += record.modality in ("audio", "video")
            work.append((record, blob))
        return work

    def drain(self) -> Outcomes:
        failed, self.failed = self.failed, []
        return failed


def _read(record: FileRecord) -> bytes | DecodeError:
    try:
        with open_regular(record.path) as handle:
            return handle.read()
    except OSError as exc:
        return read_failure(exc)
    except DecodeError as exc:
        return exc


def _kill(ray: ModuleType, actors: list[Any]) -> None:
    for actor in actors:
        with contextlib.suppress(Exception):
            ray.kill(actor, no_restart=True)


def _index(slot: _Slot) -> int:
    return slot.index
