"""The library object: an index directory opened for use, with one method per command.

    from xmodal_cli import open_collection

    with open_collection("~/.local/share/xmodal") as collection:
        for hit in collection.search("a cat sleeping on a sofa", limit=5):
            print(hit.rank, hit.path, hit.snippet)

Only a collection opened with `write=True` changes anything in the index folder (it holds
the writer lock); every other one reads, even when it finds a derived file stale.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from xmodal_cli import adapter as adapter_file
from xmodal_cli import config, thumbnails
from xmodal_cli.access import ROOTS_KEY, indexed_roots, remembered
from xmodal_cli.audit import Report, check_index, repair_index
from xmodal_cli.errors import XmodalError
from xmodal_cli.filtering import Facets
from xmodal_cli.indexer import (
    IndexOptions,
    IndexSummary,
    RemoteEncoder,
    Reporter,
    SilentReporter,
    index_paths,
    remove_paths,
)
from xmodal_cli.models import Profile, load_profile, registry, typical_queries
from xmodal_cli.query import Query
from xmodal_cli.search import MODALITIES, Filters, Result, search_similar, search_text
from xmodal_cli.store.atomic import remove_leftovers
from xmodal_cli.store.catalog import Catalog
from xmodal_cli.store.lock import IndexLock
from xmodal_cli.store.rows import profile_change
from xmodal_cli.store.vector_index import APPROXIMATE_FROM, sidecar
from xmodal_cli.store.vectors import TUNING_SAMPLE, TuningQueries, VectorStore
from xmodal_cli.upgrade import pending_upgrade, record_of, upgrade_in_place

if TYPE_CHECKING:  # tune's modules load when it runs, not with every search
    from xmodal_cli.dupes import Group
    from xmodal_cli.evaluation import Pair
    from xmodal_cli.tuning import Progress as TuneProgress
    from xmodal_cli.tuning import TuneOptions, TuneReport


@dataclass
class Collection:
    """One index directory; build with `open_collection`, close when done."""

    directory: Path
    catalog: Catalog
    vectors: VectorStore
    profile: Profile | None  # None when opened with models=False
    lock: IndexLock | None = None
    defaulted: bool = False  # a new index whose profile was chosen by `default_profile`
    _adapter: tuple[adapter_file.Adapter | None] | None = None  # loaded on first search

    @property
    def profile_name(self) -> str | None:
        info = self.catalog.profile_info()
        return str(info["name"]) if info else self.profile.name if self.profile else None

    def index(
        self,
        paths: Iterable[Path],
        *,
        options: IndexOptions | None = None,
        reporter: Reporter | None = None,
        remote: RemoteEncoder | None = None,
    ) -> IndexSummary:
        """Encode what is new or changed under `paths` (on `remote` workers if given: see
        distributed.py), prune what is gone; first finish an in-place upgrade to this
        collection's models if one is pending (that one here)."""
        options, reporter = options or IndexOptions(), reporter or SilentReporter()
        summary, paths = IndexSummary(), list(paths)
        if self.catalog.upgrade_target() is not None:
            self._upgrade(options, reporter, summary)
        with self.catalog.transaction():  # for `index --watch` and serve's link check
            there = [str(p) for p in paths if os.path.exists(p)]
            self.catalog.set_meta(ROOTS_KEY, remembered(self.catalog, there))
        done = index_paths(
            paths,
            vectors=self.vectors,
            profile=self._encoders(),
            options=options,
            reporter=reporter,
            summary=summary,
            remote=remote,
        )
        self._sweep_thumbnails()
        return done

    def roots(self) -> list[str]:
        """The folders and files `index` was given, first given first."""
        return indexed_roots(self.catalog)

    def _sweep_thumbnails(self) -> None:
        """`xmodal serve`'s thumbnails go with the files that left the index."""
        if (self.directory / thumbnails.FOLDER).is_dir():
            thumbnails.sweep_index(self.directory, self.catalog.files().values())

    def _upgrade(self, options: IndexOptions, reporter: Reporter, summary: IndexSummary) -> None:
        """Re-encode every file (resumably), switch, and rebuild the FAISS files for the
        new spaces; files of spaces the new profile lacks, and the adapter, go."""
        profile = self._encoders()
        started = time.perf_counter()
        try:
            upgrade_in_place(
                self.catalog, profile, options=options, reporter=reporter, summary=summary
            )
        except KeyboardInterrupt:
            summary.interrupted = True
            raise
        finally:
            summary.seconds += time.perf_counter() - started
        old = self.vectors
        self.vectors = _vector_store(self.directory, self.catalog, profile, write=True)
        self.vectors.rebuild()
        for space in set(old.spaces) - set(profile.spaces):
            for stale in (old.path(space), sidecar(old.path(space))):
                stale.unlink(missing_ok=True)
        # `tune` trained its adapter on the old query encoder: it would not fit the new one.
        adapter_file.remove(self.directory)
        self._adapter = None

    def rebuild(self) -> dict[str, int]:
        """Recreate every FAISS file from SQLite; vectors per space."""
        return self.vectors.rebuild()

    def search(
        self,
        query: str | Query,
        *,
        limit: int = 10,
        filters: Filters | None = None,
        tuned: bool = True,
    ) -> list[Result]:
        """Files whose content best matches a text or compound query (`query.parse_query`;
        its words through the adapter that `tune` made, unless `tuned` is False)."""
        profile = self._encoders()
        if self._adapter is None:
            self._adapter = (adapter_file.load_usable(self.directory, profile.model_ids),)
        found = self._adapter[0] if tuned else None
        return search_text(
            query,
            vectors=self.vectors,
            profile=profile,
            limit=limit,
            filters=filters,
            adapt=found.apply if found is not None else None,
        )

    def tune(
        self,
        pairs: list[Pair],
        *,
        options: TuneOptions | None = None,
        progress: TuneProgress | None = None,
    ) -> TuneReport:
        """Train query adapters on `pairs`; save those that beat no adapter on held-out
        pairs (beside the other (space, type) maps already saved). Writers only."""
        from xmodal_cli.tuning import tune

        if self.lock is None:
            raise RuntimeError("tune needs a collection opened with write=True")
        report = tune(
            pairs,
            catalog=self.catalog,
            profile=self._encoders(),
            options=options,
            progress=progress,
        )
        if report.kept:
            try:
                saved = adapter_file.load(self.directory)
            except adapter_file.AdapterError:
                saved = None  # a corrupt file is replaced
            maps = dict(saved.maps) if saved is not None else {}
            maps.update({(o.space, o.type): o.map for o in report.kept if o.map is not None})
            adapter_file.save(adapter_file.Adapter(maps), self.directory)
            self._adapter = None
        return report

    def reset_tune(self) -> bool:
        """Remove the adapter (writers only); whether there was one."""
        if self.lock is None:
            raise RuntimeError("reset needs a collection opened with write=True")
        self._adapter = None
        return adapter_file.remove(self.directory)

    def similar(
        self, path: Path, *, limit: int = 10, filters: Filters | None = None
    ) -> list[Result]:
        """Files most like `path` (indexed or not), leaving it out."""
        return search_similar(
            path, vectors=self.vectors, profile=self._encoders(), limit=limit, filters=filters
        )

    def dupes(
        self,
        *,
        types: Iterable[str] = (),
        under: tuple[str, ...] = (),
        facets: Facets | None = None,
        threshold: float | None = None,
    ) -> list[Group]:
        """Groups of exact and near duplicates, each with a keeper; deletes nothing."""
        from xmodal_cli.dupes import find_dupes

        like = self._encoders().like_spaces
        return find_dupes(
            self.vectors, like, types=types, under=under, facets=facets, threshold=threshold
        )

    def remove(self, paths: Iterable[Path]) -> int:
        """Forget every indexed file under `paths`; returns how many."""
        count = remove_paths(paths, vectors=self.vectors)
        self._sweep_thumbnails()
        return count

    def check(self, *, repair: bool = False) -> Report:
        """Verify the index; with `repair`, drop unusable rows and rebuild derived files first."""
        return repair_index(self.vectors) if repair else check_index(self.vectors)

    def status(self) -> dict[str, Any]:
        """Facts for `xmodal status`: location, models, counts, size, last update."""
        catalog = self.catalog
        info = catalog.profile_info() or {}
        last = catalog.last_indexed()
        size = sum(
            p.stat().st_size
            for p in self.directory.iterdir()
            if p.is_file() and not p.name.startswith(".")
        )
        space_counts = catalog.space_counts()
        counts = catalog.counts()
        return {
            "index_dir": str(self.directory),
            "profile": info.get("name"),
            "models": info.get("models", {}),
            "dims": info.get("spaces", self.vectors.spaces),
            "vectors": {space: space_counts.get(space, 0) for space in self.vectors.spaces},
            "indexes": self.vectors.layouts(),
            "counts": counts,
            "files": sum(c["files"] for c in counts.values()),
            "size_bytes": size,
            "upgrade": pending_upgrade(catalog),
            "adapter": self._describe_adapter(info.get("models", {})),
            "schema_version": catalog.user_version(),
            "last_indexed": (
                dt.datetime.fromtimestamp(last).astimezone().isoformat(timespec="seconds")
                if last
                else None
            ),
        }

    def _describe_adapter(self, model_ids: dict[str, str]) -> dict[str, Any] | None:
        try:
            found = adapter_file.load(self.directory)
        except adapter_file.AdapterError as exc:
            return {"error": str(exc), "maps": []}
        return found.describe(model_ids) if found is not None else None

    def _encoders(self) -> Profile:
        if self.profile is None:
            raise RuntimeError("this collection was opened with models=False")
        return self.profile

    def close(self) -> None:
        self.catalog.close(checkpoint=self.lock is not None)
        if self.lock is not None:
            self.lock.release()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_collection(  # noqa: PLR0913 (how to open it, all keyword-only)
    directory: str | os.PathLike[str],
    *,
    write: bool = False,
    create: bool = False,
    model: str | None = None,
    profile: Profile | None = None,
    device: str = "cpu",
    model_path: Path | None = None,
    models: bool = True,
    read_text: bool | None = None,
) -> Collection:
    """Open the index in `directory` with the models that built it.

    `write` takes the directory's writer lock (another writer fails fast with its pid) and
    clears temp files a killed run left; `create` (which implies `write`) makes a new index.
    The profile is the one the index records; a new index uses `model` (a name) or
    `profile` (an object, e.g. a test's fake), else the best one on this machine
    (`defaulted` says so). With `models=False` (status, check, remove: nothing is encoded)
    the spaces recorded in the index are used and no model file needs to be here. A reader
    never records anything: an index without a profile yet is searched with `lite`.
    `read_text` True/False turns lite's words-in-images on/off (a change re-encodes in
    place); None keeps what the index records.
    """
    path = Path(directory).expanduser().absolute()
    write = write or create
    lock = None
    if write:
        if create:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if path.is_dir():
            lock = IndexLock(path).acquire()
            remove_leftovers(path)
    try:
        catalog = Catalog.open(path, create=create, writable=write)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    try:
        if profile is None:
            profile, spaces, defaulted = _choose_profile(
                catalog,
                write=write,
                model=model,
                device=device,
                model_path=model_path,
                models=models,
                read_text=read_text,
            )
        else:
            spaces, defaulted = _record(catalog, profile, write=write), False
    except BaseException:
        catalog.close()
        if lock is not None:
            lock.release()
        raise
    vectors = _vector_store(path, catalog, profile, write=write, spaces=spaces)
    return Collection(path, catalog, vectors, profile, lock, defaulted)


def _vector_store(
    path: Path,
    catalog: Catalog,
    profile: Profile | None,
    *,
    write: bool,
    spaces: dict[str, int] | None = None,
) -> VectorStore:
    """The store of `spaces` (the profile's by default); a writer's tunes on the profile."""
    tuning = _tuning_queries(profile, catalog) if profile is not None and write else None
    return VectorStore(
        path,
        catalog,
        spaces if spaces is not None else profile.spaces if profile else {},
        writable=write,
        approximate_from=config.approximate_from(APPROXIMATE_FROM),
        tuning_queries=tuning,
    )


def _tuning_queries(profile: Profile, catalog: Catalog) -> TuningQueries:
    """What an approximate index tunes its recall on: typical text queries encoded by the
    profile in the spaces text queries search; sampled items in like-with-like spaces."""

    def queries(space: str) -> tuple[np.ndarray, str]:
        if any(space in profile.query_spaces(m) for m in MODALITIES):
            wanted = frozenset({space})
            vectors = [profile.encode_query(text, wanted)[space] for text in typical_queries()]
            return np.stack(vectors), "queries"
        return catalog.sample_vectors(space, profile.spaces[space], TUNING_SAMPLE), "items"

    return queries


def _choose_profile(
    catalog: Catalog,
    *,
    write: bool,
    model: str | None,
    device: str,
    model_path: Path | None,
    models: bool,
    read_text: bool | None = None,
) -> tuple[Profile | None, dict[str, int], bool]:
    """(profile, spaces served now, chosen by default). A writer without `model` continues
    a pending switch of profile; see `_record` for what happens when the models differ."""
    recorded = catalog.profile_info()
    if not models and model is None:
        return None, dict(recorded["spaces"]) if recorded else {}, False
    if recorded and model is None and recorded["name"] not in registry.PROFILES:
        raise XmodalError(
            f"this index was built with model profile {recorded['name']!r}, unknown to this xmodal",
            "upgrade xmodal, or use another --index-dir",
        )
    pending = catalog.upgrade_target() if write else None
    name = model or (str((pending or recorded)["name"]) if recorded else None)
    defaulted = name is None and write
    if name is None:
        name = registry.default_profile(model_path) if write else "lite"
    # Without --model, the variant the index records (float or int8) keeps encoding it, even
    # on a machine whose default differs; naming the profile asks for this machine's default.
    basis = pending or recorded
    ids = dict(basis["models"]) if basis and model is None else None
    profile = load_profile(
        name, device=device, model_path=model_path, model_ids=ids, read_text=read_text
    )
    return profile, _record(catalog, profile, write=write), defaulted


def _record(catalog: Catalog, profile: Profile, *, write: bool) -> dict[str, int]:
    """The spaces the index serves now. A writer records the profile on first use (or when
    it grew), and begins an in-place upgrade when other models built the index (searches
    use the old vectors until it commits). A reader of an index whose model ids are older
    but whose spaces are the same searches it as it is; of any other, it is refused."""
    have, wanted = catalog.profile_info(), record_of(profile)
    change = profile_change(have, wanted)
    if write:
        catalog.begin_upgrade(wanted if change == "upgrade" else None)
        if change == "record":
            catalog.bind_profile(profile.name, profile.spaces, profile.model_ids)
        return dict(have["spaces"]) if have and change == "upgrade" else profile.spaces
    if change == "upgrade":
        assert have is not None
        if have["name"] != profile.name or have["spaces"] != profile.spaces:
            catalog.check_profile(profile.name, profile.spaces, profile.model_ids)  # raises
    return profile.spaces
