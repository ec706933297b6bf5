"""Warm search latency of `xmodal serve` at 100k items (lite), through a real HTTP client.

Builds an index of N one-passage text files with random unit vectors written straight into
the catalog (bench.large_index's builder: the real `lite` spaces and model ids), starts the
real `xmodal serve` in a child process (the real lite query encoder), and sends each query
over HTTP with httpx, one at a time, after a warm-up. Reports p50/p99 of the server's own
time (its Server-Timing header: encode + search + collapse, as `search` does) and of the
client's round trip.

    python -m bench.serve_latency --items 100000 --queries 300
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.harness import cache_dir, cli_env, emit, machine, note, xmodal_command
from bench.large_index import build


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max, in milliseconds."""
    values = np.asarray(samples)
    return {f"p{q}": round(float(np.percentile(values, q)), 2) for q in (50, 90, 99)} | {
        "max": round(float(values.max()), 2)
    }


def start_server(index: Path, port: int, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """`xmodal serve` in a child; it prints its URL once the models and index are loaded."""
    command = [*xmodal_command(), "serve", "--index-dir", str(index), "--port", str(port)]
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    url = child.stdout.readline().strip()
    if not url.startswith("http"):
        child.kill()
        raise SystemExit(f"xmodal serve did not start (exit {child.wait()})")
    return child, url


def measure(url: str, queries: list[str], params: dict[str, str]) -> dict[str, dict[str, float]]:
    """Server-side and client-side milliseconds per query."""
    import httpx

    base, token = url.split("/?token=")
    server, client = [], []
    with httpx.Client(base_url=base, headers={"X-Xmodal-Token": token}, timeout=60) as http:
        for number, query in enumerate(queries):
            started = time.perf_counter()
            response = http.get("/api/search", params={"q": query, **params})
            took = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            if number < 10:
                continue  # warm-up: first encodes, page cache
            client.append(took)
            server.append(float(response.headers["server-timing"].split("dur=")[1]))
    return {"server_ms": percentiles(server), "client_ms": percentiles(client)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--cache", default=None)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    cache = cache_dir(args.cache)
    work = Path(tempfile.mkdtemp(prefix="xmodal-serve-"))
    try:
        note(f"building {args.items} items")
        build(work / "index", args.items, cache)
        from xmodal_cli.models import typical_queries

        phrases = typical_queries()
        queries = [phrases[i % len(phrases)] for i in range(args.queries + 10)]
        child, url = start_server(work / "index", args.port, cli_env(cache))
        try:
            note("measuring plain searches")
            plain = measure(url, queries, {"n": "10"})
            note(f"plain: {plain}; measuring filtered searches")
            # `ext` and the other facets are left out: at 100k files that all match, one
            # such query takes seconds in the facet code itself (in-process too).
            filtered = measure(url, queries, {"n": "10", "type": "text", "under": "/bench"})
        finally:
            child.terminate()
            child.wait(30)
        emit(
            {
                "bench": "serve_latency",
                **machine(load),
                "items": args.items,
                "queries": args.queries,
                "search": plain,
                "search_type_and_under_filter": filtered,
                "command": f"python -m bench.serve_latency --items {args.items} "
                f"--queries {args.queries}",
            }
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
