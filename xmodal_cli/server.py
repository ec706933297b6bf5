"""`xmodal serve`: a local web page and JSON API over one index, kept warm.

One Starlette app (`make_app`), run by uvicorn. The models and the index are loaded once, by
`Shelf`, and used from one thread (SQLite connections stay on the thread that made them, and
encoders need not be thread-safe); when a writer (`xmodal index`, `index --watch`) commits,
the catalog's generation changes and the next request reopens the index, keeping the models.
Searches go through the same Collection methods, query grammar, filters and sort as the CLI,
and the API returns the same dicts as `--json`. It writes nothing but the thumbnail cache.

Every request needs the token printed at start-up (query `token=`, header `X-Xmodal-Token`, or
the HttpOnly SameSite=Strict cookie set on the first visit), so other local users and other
web pages cannot read the index. Files are served by access.py's rules only.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import Receive, Scope, Send

from xmodal_cli.access import NotServed, OpenFile, indexed_file, open_indexed
from xmodal_cli.collection import Collection, open_collection
from xmodal_cli.errors import UsageError, XmodalError
from xmodal_cli.filtering import make_facets
from xmodal_cli.gate import TokenGate
from xmodal_cli.media import DecodeError
from xmodal_cli.models import Profile
from xmodal_cli.ordering import check_sort, sort_results
from xmodal_cli.query import parse_query
from xmodal_cli.search import Filters, Result, clock, make_filters
from xmodal_cli.thumbnails import DEFAULT_LIMIT, ThumbnailCache

WEB = Path(__file__).parent / "web"
PAGE_LIMIT = 24
API_LIMIT = 10  # the CLI's default
# What Chromium, Firefox and Safari all play; anything else gets a download link.
PLAYABLE = frozenset({".mp3", ".wav", ".wave", ".ogg", ".oga", ".opus", ".flac", ".m4a", ".aac"})
PLAYABLE_VIDEO = frozenset({".mp4", ".m4v", ".webm", ".ogv"})
VIEWABLE = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp"})
T = TypeVar("T")


class Shelf:
    """The open collection, used from one thread and reopened when a writer commits."""

    def __init__(
        self,
        directory: Path,
        *,
        model_path: Path | None = None,
        profile: Profile | None = None,
        thumbnails: ThumbnailCache | None = None,
    ) -> None:
        self.directory = directory
        self.model_path = model_path
        self.thumbnails = thumbnails or ThumbnailCache(directory)
        self._profile = profile
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="xmodal-index")
        self._collection: Collection | None = None
        self._generation = -1

    async def run(self, work: Callable[[Collection], T]) -> T:
        """`work(collection)` on the collection's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: work(self.current()))

    def call(self, work: Callable[[Collection], T]) -> T:
        """`run` for callers outside the event loop (start-up, tests)."""
        return self._pool.submit(lambda: work(self.current())).result()

    def current(self) -> Collection:
        """The collection as of the catalog's latest commit (call on the collection's thread)."""
        if self._collection is None:
            self._collection = open_collection(
                self.directory, profile=self._profile, model_path=self.model_path
            )
            self.thumbnails.sweep(self._collection.catalog.files().values())
        elif self._collection.catalog.generation != self._generation:
            self._collection = self._reopen(self._collection)
        self._generation = self._collection.catalog.generation
        return self._collection

    def _reopen(self, old: Collection) -> Collection:
        """A fresh reader of the index with the models already loaded; new models only when
        a writer switched the index to another profile."""
        old.close()
        if old.profile is not None:
            try:
                return open_collection(self.directory, profile=old.profile)
            except XmodalError:
                pass
        return open_collection(self.directory, model_path=self.model_path)

    def warm(self) -> None:
        """Load the models and the index now, so the first query is as fast as the rest."""
        self.call(lambda c: c.search("warm up", limit=1))

    def close(self) -> None:
        if self._collection is not None:
            self.call(lambda c: c.close())
        self._pool.shutdown()


# -- asking ---------------------------------------------------------------------------------
def filters_of(params: QueryParams) -> Filters:
    """The CLI's filter options, as query parameters of the same names (`ext`, `type` and
    `under` repeatable; `-` in option names becomes `_`). Without `min_relevance`, files of
    other types than the best hit's show from the CLI's default floor (search.py)."""

    def text(name: str) -> str | None:
        return (params.get(name) or "").strip() or None

    facets = make_facets(
        after=text("after"),
        before=text("before"),
        exts=[e for e in params.getlist("ext") if e.strip()],
        min_size=text("min_size"),
        max_size=text("max_size"),
        longer=text("longer"),
        shorter=text("shorter"),
        near=text("near"),
        radius=_number(params, "radius", float),
        camera=text("camera"),
    )
    types = [t for t in params.getlist("type") if t and t != "any"]
    under = [Path(u) for u in params.getlist("under") if u.strip()]
    floor = _number(params, "min_relevance", float)
    if floor is not None and not 0.0 <= floor <= 1.0:  # what --min-relevance's range allows
        raise UsageError(
            f"min_relevance={floor} is out of range", "give 0 to 1, e.g. min_relevance=0.5"
        )
    return make_filters(types, under, _number(params, "min_score", float), facets, floor)


def _number(params: QueryParams, name: str, kind: Callable[[str], T]) -> T | None:
    raw = (params.get(name) or "").strip()
    try:
        return kind(raw) if raw else None
    except ValueError:
        raise UsageError(
            f"{name}={raw!r} is not a number", f"give a number, e.g. {name}=10"
        ) from None


def ask(params: QueryParams, *, default_limit: int) -> Callable[[Collection], list[Result]]:
    """The search (`q`) or more-like-this (`like`) a request asks for, ready to run."""
    filters = filters_of(params)
    limit = _number(params, "n", int) or default_limit
    if not 1 <= limit <= 1000:
        raise UsageError(f"n={limit} is out of range", "ask for 1 to 1000 results")
    order = check_sort(params.get("sort") or "relevance")
    like = params.get("like") or params.get("path")
    if like:

        def similar(col: Collection) -> list[Result]:
            indexed_file(col.catalog, like)  # "more like this" is for indexed files
            return sort_results(col.similar(Path(like), limit=limit, filters=filters), order)

        return similar
    plain = params.get("plain") in ("1", "true", "on")
    query = parse_query([params.get("q") or ""], plain=plain)
    return lambda col: sort_results(col.search(query, limit=limit, filters=filters), order)


# -- the page -------------------------------------------------------------------------------
def _url(route: str, **params: str) -> str:
    return f"{route}?{urlencode(params)}"


def card(result: Result) -> dict[str, Any]:
    """A result as the page shows it: its `--json` dict plus links and how to show it."""
    row = result.as_dict()
    extension = os.path.splitext(result.path)[1].lower()
    file_url = _url("/file", path=result.path)
    start = row.get("start_seconds")
    at = clock(start) if start is not None else ""
    return {
        **row,
        "name": os.path.basename(result.path),
        "folder": os.path.dirname(result.path),
        "file_url": file_url,
        "media_url": file_url + (f"#t={start}" if start else ""),
        "clock": at,  # shown as a link to the moment; the snippet without it, as `said`
        "said": row["snippet"].removeprefix(f"{at} ") if at else row["snippet"],
        "download_url": _url("/file", path=result.path, download="1"),
        "thumb_url": _url("/thumb", path=result.path),
        "like_url": _url("/", like=result.path),
        "playable": extension in (PLAYABLE_VIDEO if result.type == "video" else PLAYABLE),
        "viewable": extension in VIEWABLE or result.type == "text",
    }


# Words too common to be worth marking in a passage.
_COMMON = frozenset(
    {
        "the", "and", "for", "with", "where", "when", "what", "who", "was", "were", "are",
        "that", "this", "from", "about", "into", "over", "our", "you", "your", "not", "but",
        "have", "has", "had", "all", "any", "can", "her", "his", "its", "one", "out",
    }
)  # fmt: skip


def highlight(snippet: str, query: str) -> Markup:
    """The passage, escaped, with the query's words (3+ letters) marked."""
    wanted = set(re.findall(r"\w{3,}", query.casefold())) - _COMMON
    words = sorted(wanted, key=len, reverse=True)
    if not words:
        return escape(snippet)
    pattern = re.compile("|".join(re.escape(w) for w in words), re.I)
    out, last = Markup(""), 0
    for found in pattern.finditer(snippet):
        out += escape(snippet[last : found.start()]) + Markup("<mark>%s</mark>") % found.group()
        last = found.end()
    return out + escape(snippet[last:])


# -- routes ---------------------------------------------------------------------------------
def make_app(
    directory: Path,
    *,
    token: str,
    port: int = 8765,
    profile: Profile | None = None,
    model_path: Path | None = None,
    thumbnail_bytes: int = DEFAULT_LIMIT,
) -> Starlette:
    """The web app over the index in `directory`; `profile` (tests) overrides its models."""
    shelf = Shelf(
        directory,
        model_path=model_path,
        profile=profile,
        thumbnails=ThumbnailCache(directory, limit=thumbnail_bytes),
    )
    templates = Jinja2Templates(directory=WEB / "templates")
    templates.env.filters["highlight"] = highlight

    async def page(request: Request) -> Response:
        params, found, error = request.query_params, None, None
        try:
            if params.get("q") or params.get("like"):
                found = [card(r) for r in await shelf.run(ask(params, default_limit=PAGE_LIMIT))]
        except XmodalError as exc:
            error = exc
        status = await shelf.run(lambda c: c.status())
        context = {"params": params, "found": found, "error": error, "status": status}
        code = 200 if error is None else _status_code(error)
        return templates.TemplateResponse(request, "search.html", context, status_code=code)

    async def dupes_page(request: Request) -> Response:
        params, groups, error = request.query_params, None, None
        try:
            filters = filters_of(params)
            threshold = _number(params, "threshold", float)
            groups = await shelf.run(
                lambda c: c.dupes(
                    types=filters.types,
                    under=filters.under,
                    facets=filters.facets,
                    threshold=threshold,
                )
            )
        except XmodalError as exc:
            error = exc
        shown = [
            {**g.as_dict(), "cards": [_member_card(m.path, g.type) for m in g.files]}
            for g in groups or []
        ]
        context = {"params": params, "groups": shown, "error": error}
        return templates.TemplateResponse(request, "dupes.html", context)

    async def api_search(request: Request) -> Response:
        return await _timed(shelf.run(ask(request.query_params, default_limit=API_LIMIT)))

    async def api_similar(request: Request) -> Response:
        if not request.query_params.get("path"):
            raise UsageError("give the path of an indexed file", "/api/similar?path=/photos/a.jpg")
        return await _timed(shelf.run(ask(request.query_params, default_limit=API_LIMIT)))

    async def api_status(request: Request) -> Response:
        return JSONResponse(await shelf.run(lambda c: c.status()))

    async def api_dupes(request: Request) -> Response:
        filters = filters_of(request.query_params)
        threshold = _number(request.query_params, "threshold", float)
        groups = await shelf.run(
            lambda c: c.dupes(
                types=filters.types, under=filters.under, facets=filters.facets, threshold=threshold
            )
        )
        return JSONResponse([g.as_dict() for g in groups])

    async def file(request: Request) -> Response:
        path = request.query_params.get("path", "")
        opened = await shelf.run(lambda c: open_indexed(c.catalog, path))
        download = request.query_params.get("download") == "1"
        return _FdResponse(opened, download=download)

    async def thumb(request: Request) -> Response:
        path = request.query_params.get("path", "")
        opened = await shelf.run(lambda c: open_indexed(c.catalog, path))
        with os.fdopen(opened.fd, "rb") as source:
            if opened.row.modality != "image":
                raise NotServed("not a photo", "thumbnails are made of indexed photos only")
            loop = asyncio.get_running_loop()
            try:
                data = await loop.run_in_executor(None, shelf.thumbnails.get, opened.row, source)
            except DecodeError as exc:
                raise NotServed(str(exc), "open the file itself instead") from None
        return Response(
            data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"}
        )

    routes = [
        Route("/", page),
        Route("/dupes", dupes_page),
        Route("/api/search", api_search),
        Route("/api/similar", api_similar),
        Route("/api/status", api_status),
        Route("/api/dupes", api_dupes),
        Route("/file", file),
        Route("/thumb", thumb),
        Mount("/static", StaticFiles(directory=WEB / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={XmodalError: _error_response, Exception: _unexpected},
        lifespan=_closing(shelf),
    )
    app.state.shelf = shelf
    app.add_middleware(TokenGate, token=token, cookie=f"xmodal_token_{port}")
    return app


def _closing(shelf: Shelf) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        shelf.close()

    return lifespan


def _member_card(path: str, kind: str) -> dict[str, Any]:
    return {
        "path": path,
        "name": os.path.basename(path),
        "thumb_url": _url("/thumb", path=path) if kind == "image" else "",
        "file_url": _url("/file", path=path),
    }


async def _timed(work: Any) -> Response:
    """The results as JSON, with the server's time for them in a Server-Timing header."""
    started = time.perf_counter()
    rows: list[Result] = await work
    took = (time.perf_counter() - started) * 1000
    return JSONResponse(
        [r.as_dict() for r in rows], headers={"Server-Timing": f"search;dur={took:.2f}"}
    )


def _status_code(exc: XmodalError) -> int:
    if isinstance(exc, NotServed):
        return 404
    return 400 if isinstance(exc, UsageError) else 422


async def _error_response(request: Request, exc: Exception) -> Response:
    """The CLI's `Error:` and `Hint:` as JSON."""
    assert isinstance(exc, XmodalError)
    return JSONResponse({"error": exc.message, "hint": exc.hint}, _status_code(exc))


async def _unexpected(request: Request, exc: Exception) -> Response:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return JSONResponse(
        {
            "error": f"unexpected error: {type(exc).__name__}: {first}"[:300],
            "hint": "this is a bug in xmodal; the index is untouched (the server only reads)",
        },
        500,
    )


class _FdResponse(FileResponse):
    """An opened indexed file, served from its descriptor (ranges included, for seeking in
    recordings); nothing is reopened by name, so nothing can be swapped in meanwhile."""

    def __init__(self, opened: OpenFile, *, download: bool) -> None:
        self._fd = opened.fd
        name = os.path.basename(opened.row.path)
        ext = os.path.splitext(name)[1].lower()
        # Text of any kind is shown as plain text, never as HTML in this page's origin; the
        # sandbox policy keeps even a file the browser renders from running script here.
        media = "text/plain; charset=utf-8" if opened.row.modality == "text" else None
        if media is None and ext not in VIEWABLE | PLAYABLE | PLAYABLE_VIDEO:
            media = "application/octet-stream"
        # Linux: the descriptor's magic link opens the very file that was checked.
        linux = sys.platform.startswith("linux")
        super().__init__(
            f"/proc/self/fd/{self._fd}" if linux else opened.row.path,
            media_type=media,
            filename=name,
            stat_result=os.fstat(self._fd),
            content_disposition_type="attachment" if download else "inline",
            headers={"Content-Security-Policy": "sandbox", "Cache-Control": "private"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            os.close(self._fd)
