"""Plumbing shared by the benchmarks: the real CLI in a fresh process, timing, one JSON line.

Every benchmark prints exactly one JSON line of figures on stdout; notes go to stderr.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DEFAULT_CACHE = "/tmp/xc-bench"


def note(message: str) -> None:
    """A progress note for the person watching (stderr, never stdout)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def emit(figures: dict[str, Any]) -> None:
    """The benchmark's one line of output."""
    sys.stdout.write(json.dumps(figures, sort_keys=False) + "\n")
    sys.stdout.flush()


def machine(load_at_start: float) -> dict[str, Any]:
    """CPUs and 1-minute load averages: timings taken on a busy machine are not comparable."""
    return {
        "cpus": os.cpu_count(),
        "loadavg_1m_start": round(load_at_start, 2),
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
    }


def cache_dir(value: str | None) -> Path:
    """--cache, else $XMODAL_CACHE, else a bench-only cache (never the user's own)."""
    return Path(value or os.environ.get("XMODAL_CACHE") or DEFAULT_CACHE).absolute()


def cli_env(cache: Path) -> dict[str, str]:
    """Environment for a CLI child: our cache, no hub, no stray XMODAL_HOME, no colour."""
    env = dict(os.environ)
    env.pop("XMODAL_HOME", None)
    # The child runs this tree's code even through the venv's console script (an editable
    # install points at whichever checkout made the venv, e.g. a bench run from a snapshot).
    tree = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (tree, env.get("PYTHONPATH", "")) if p)
    env.update(
        XMODAL_CACHE=str(cache),
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        NO_COLOR="1",
    )
    return env


def xmodal_command() -> list[str]:
    """The installed console script next to this interpreter, else `python -m xmodal_cli`."""
    script = Path(sys.executable).with_name("xmodal")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "xmodal_cli"]


def run_timed(
    args: Sequence[str], env: dict[str, str], *, check: bool = True
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall seconds of one child process, and what it printed."""
    started = time.perf_counter()
    done = subprocess.run(list(args), env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if check and done.returncode != 0:
        raise SystemExit(
            f"command failed ({done.returncode}): {' '.join(args)}\n{done.stderr[-4000:]}"
        )
    return seconds, done


def summarise(samples: Sequence[float], digits: int = 3) -> dict[str, float]:
    """min / median / max of a list of timings."""
    return {
        "min": round(min(samples), digits),
        "median": round(statistics.median(samples), digits),
        "max": round(max(samples), digits),
    }


def heavy_imports(importtime_stderr: str, names: Sequence[str]) -> dict[str, float | None]:
    """From `python -X importtime` output: cumulative seconds per top-level package, or None
    when it was never imported."""
    found: dict[str, float | None] = {name: None for name in names}
    for line in importtime_stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [p.strip() for p in line[len("import time:") :].split("|")]
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        module = parts[2]
        if module in found:  # the top-level line carries the whole package's cumulative time
            found[module] = int(parts[1]) / 1e6
    return found
