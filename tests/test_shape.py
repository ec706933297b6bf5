"""Standing rules of the code's shape (issue "one home for each rule"), checked on every run."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "xmodal_cli"


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_cli_stays_thin_and_no_module_grows_past_450_lines() -> None:
    sizes = {p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines()) for p in _modules()}
    assert sizes["cli.py"] < 400, "give a new command group its own module"
    assert {name: n for name, n in sizes.items() if n > 450} == {}


def test_sql_runs_only_in_the_catalog() -> None:
    outside = [
        p.relative_to(PACKAGE).as_posix()
        for p in _modules()
        if not (p.parent.name == "store" and p.name.startswith("catalog"))
        and re.search(r"\.conn\b|\bsqlite3\.connect|\.execute\(", p.read_text())
    ]
    assert outside == []


def test_nothing_below_the_cli_imports_typer_or_rich() -> None:
    front = {
        "cli.py",
        "cli_common.py",
        "cli_dupes.py",
        "cli_eval.py",
        "cli_filters.py",
        "cli_models.py",
        "cli_search.py",
        "cli_serve.py",
        "cli_tune.py",
        "cli_watch.py",
        "preview.py",
        "render.py",
    }
    importing = [
        p.relative_to(PACKAGE).as_posix()
        for p in _modules()
        if p.name not in front
        and re.search(r"^\s*(from|import) (typer|rich)\b", p.read_text(), re.M)
    ]
    assert importing == []
