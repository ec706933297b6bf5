"""The only place that prints results: rich table, JSON, JSON lines or bare paths.

Data goes to stdout; progress, notices and errors go to stderr (never mixed), and consoles
are created lazily so test runners can capture them.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # importing them for real would pull numpy and SQLite into `--help`
    from xmodal_cli.indexer import IndexSummary
    from xmodal_cli.search import Result


def stdout_console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def stderr_console() -> Console:
    # soft_wrap: an error or skip line stays one line in a log, whatever the width.
    return Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: str, hint: str | None = None) -> None:
    """`Error: …` and optional `Hint: …` on stderr."""
    console = stderr_console()
    console.print(Text("Error: ", style="bold red") + Text(message))
    if hint:
        console.print(Text("Hint: ", style="bold") + Text(hint))


def default_model_note(name: str) -> None:
    """Say which profile a new index got without --model."""
    if name == "lite":
        note = "model: lite (offline); `xmodal models` lists better ones to pull"
    else:
        note = f"model: {name} (found on this machine; --model lite for the offline one)"
    stderr_console().print(note, style="dim")


def results(rows: list[Result], mode: str, *, null: bool = False) -> None:
    """Print search results in the chosen output mode."""
    if mode == "json":
        sys.stdout.write(
            json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=2) + "\n"
        )
    elif mode == "jsonl":
        for row in rows:
            sys.stdout.write(json.dumps(row.as_dict(), ensure_ascii=False) + "\n")
    elif mode == "paths":
        end = "\0" if null else "\n"
        for row in rows:
            sys.stdout.write(row.path + end)
    else:
        _results_table(rows)
    sys.stdout.flush()


def _results_table(rows: list[Result]) -> None:
    console = stdout_console()
    if not rows:
        stderr_console().print("No matches.", style="dim")
        return
    shown = [_display_path(row.path) for row in rows]
    table = Table(show_edge=False, header_style="bold")
    rank_width = len(str(rows[-1].rank))
    table.add_column("#", justify="right", style="dim", width=rank_width)
    # Ranked by relevance (0-1, comparable across types); score is the raw cosine.
    table.add_column("rel", justify="right", width=5)
    table.add_column("score", justify="right", width=5)
    table.add_column("type", width=5)
    if any(row.words for row in rows):
        table.caption = "≡ every word asked is in the file: its text, caption or name"
    # Widths are set here, not left to rich: when a table is tight, rich 15 wraps the last
    # column wider than it draws it and crops words. Paths are what people act on, so they
    # get room first; the snippet takes the rest (at least 20 columns).
    fixed = rank_width + 5 + 5 + 5 + 2 * 6 + 5  # four columns, their padding, separators
    path_width = min(max(len(p) for p in shown), max(20, console.width - fixed - 30))
    snippet_width = min(80, max(20, console.width - fixed - path_width))
    table.add_column("path", overflow="fold", style="cyan", width=path_width)
    table.add_column("snippet", overflow="ellipsis", width=snippet_width)
    for row, path in zip(rows, shown, strict=True):
        snippet = " ".join(row.snippet.split())
        snippet = snippet if len(snippet) <= 100 else snippet[:99] + "…"
        table.add_row(
            str(row.rank),
            f"{row.relevance:.2f}" + ("≡" if row.words else ""),
            f"{row.score:.3f}",
            row.type,
            _wrap_path(path, path_width),
            snippet,
        )
    console.print(table)


def _wrap_path(path: str, width: int) -> str:
    """Lines of at most `width` that break after a `/`, so names stay whole (a name longer
    than the column is still folded by the table)."""
    lines, line = [], ""
    for part in path.replace("/", "/\0").split("\0"):
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        line += part
    return "\n".join([*lines, line])


def batch_results(groups: list[tuple[str, list[Result]]], mode: str, *, null: bool) -> None:
    """Results of several queries, in their order: a table each under the query as a
    heading, `query` keys in JSON (`--json`: [{"query", "results"}]), or the paths of all."""
    if mode == "json":
        out = [{"query": q, "results": [r.as_dict() for r in rows]} for q, rows in groups]
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
    elif mode == "jsonl":
        for query, rows in groups:
            for row in rows:
                line = json.dumps({"query": query, **row.as_dict()}, ensure_ascii=False)
                sys.stdout.write(line + "\n")
    for number, (query, rows) in enumerate(groups if mode in ("table", "paths") else ()):
        if mode == "table":
            stdout_console().print(Text(("\n" if number else "") + query, style="bold"))
        results(rows, mode, null=null)
    sys.stdout.flush()


def _display_path(path: str) -> str:
    """Relative to the working folder when inside it, else with ~ for home (table only)."""
    cwd = os.getcwd()
    if path.startswith(cwd + os.sep):
        return os.path.relpath(path, cwd)
    home = os.path.expanduser("~")
    if home != os.sep and path.startswith(home + os.sep):
        return "~" + path[len(home) :]
    return path


def summary_line(summary: IndexSummary) -> str:
    """One human line: what the run indexed, kept, moved, removed and skipped."""
    parts = [
        f"indexed {summary.indexed} files ({summary.items} items)",
        f"{summary.unchanged} unchanged",
    ]
    if summary.upgraded:
        parts.insert(0, f"re-encoded {summary.upgraded} files for the new models")
    if summary.moved:
        parts.append(f"{summary.moved} moved")
    parts.append(f"{summary.removed} removed")
    skipped = f"{summary.skipped} skipped"
    if summary.skip_reasons:
        reasons = ", ".join(f"{k}: {v}" for k, v in summary.skip_reasons.most_common())
        skipped += f" ({reasons})"
    parts.append(skipped)
    head = "Interrupted: " if summary.interrupted else ""
    return head + " · ".join(parts) + f" in {summary.seconds:.1f}s"


def index_summary(summary: IndexSummary, *, as_json: bool, quiet: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(summary.as_dict()) + "\n")
    elif not quiet:
        stderr_console().print(summary_line(summary))


def status(info: dict[str, Any], *, as_json: bool) -> None:
    """Where the index lives, its models, and what it holds."""
    if as_json:
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
        return
    console = stdout_console()
    console.print(f"[bold]Index[/bold]    {info['index_dir']}")
    console.print(f"[bold]Profile[/bold]  {info['profile'] or 'none yet (nothing indexed)'}")
    for space, model in info["models"].items():
        console.print(
            f"  {space:<8} {model} ({info['dims'][space]}-d, {info['vectors'][space]} vectors, "
            f"{_index_kind(info['indexes'].get(space, {}))})"
        )
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("type")
    table.add_column("files", justify="right")
    table.add_column("items", justify="right")
    for modality, counts in sorted(info["counts"].items()):
        table.add_row(modality, str(counts["files"]), str(counts["items"]))
    console.print(table)
    console.print(f"[bold]Size[/bold]     {_human_bytes(info['size_bytes'])}")
    if info.get("last_indexed"):
        console.print(f"[bold]Updated[/bold]  {info['last_indexed']}")
    for line in _adapter_lines(info.get("adapter")):
        console.print(line)
    if info.get("upgrade"):
        upgrade = info["upgrade"]
        console.print(
            f"[bold]Upgrade[/bold]  to {upgrade['to']} pending: {upgrade['files_done']} of "
            f"{info['files']} files re-encoded; `xmodal index` continues it "
            "(searches use the old vectors until it finishes)"
        )


def _adapter_lines(adapter: dict[str, Any] | None) -> list[str]:
    """`xmodal tune`'s query maps, with the held-out R@1 that justified each."""
    if not adapter:
        return []
    if adapter.get("error"):
        return [f"[bold]Adapter[/bold]  unusable ({adapter['error']}); `xmodal check --repair`"]
    lines = []
    for m in adapter["maps"]:
        state = "in use" if m["in_use"] else "unused (other models)"
        lines.append(
            f"[bold]Adapter[/bold]  {m['type']} queries ({m['space']}): held-out R@1 "
            f"{m['before']['recall@1']:.2f} → {m['after']['recall@1']:.2f}, {state}"
        )
    return lines


def _index_kind(index: dict[str, Any]) -> str:
    """'exact search', or the approximate index with its breadth and measured recall."""
    if index.get("index") != "ivf":
        return "exact search"
    return (
        f"approximate: IVF {index['nlist']} cells, {index['nprobe']} searched, "
        f"recall@10 {index['expected_recall_at_10']:.2f} on {index['tuned_on']}"
    )


def model_table(rows: list[dict[str, Any]], *, as_json: bool) -> None:
    """`xmodal models`: one row per profile."""
    if as_json:
        stdout_console().print_json(json.dumps(rows))
        return
    table = Table(show_edge=False, header_style="bold")
    for column in ("name", "spaces", "size", "licence", "here", "offline", "what"):
        table.add_column(column)
    for row in rows:
        spaces = ", ".join(f"{space} {dim}" for space, dim in row["spaces"].items())
        table.add_row(
            row["name"],
            spaces,
            f"{row['size_mb'] / 1000:.1f} GB",
            row["licence"],
            "yes" if row["installed"] else "no",
            "yes" if row["offline"] else "after pull",
            row["summary"],
        )
    stdout_console().print(table)


def check_report(report: dict[str, Any], *, as_json: bool) -> None:
    """`xmodal check`: problems and notes, one line each, then a verdict."""
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    console = stdout_console()
    for line in report["repaired"]:
        console.print(f"[green]repaired[/green] {line}")
    for kind, style in (("problems", "red"), ("notes", "yellow")):
        for finding in report[kind]:
            label = "problem" if kind == "problems" else "note"
            console.print(
                Text(f"{label}: ", style=style) + Text(f"{finding['message']} ({finding['count']})")
            )
            for example in finding["examples"]:
                console.print(Text(f"    {example}", style="dim"))
    checked = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in report["checked"].items())
    verdict = "[green]ok[/green]" if report["ok"] else "[red]problems found[/red]"
    console.print(f"{verdict}: checked {checked}")


def evaluation(
    groups: dict[str, dict[str, Any]], notes: list[str], *, as_json: bool, quiet: bool
) -> None:
    """`xmodal eval`: one row per type and `all`, each figure over its 95% interval."""
    if not quiet:
        for note in notes:
            stderr_console().print(note, style="yellow")
    if as_json:
        sys.stdout.write(json.dumps(groups, indent=2) + "\n")
        return
    metrics = ("recall@1", "recall@5", "recall@10", "mrr", "map", "ndcg@10")
    # Narrow (69 columns for 999 queries), so it fits an 80-column terminal unwrapped.
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 0),
        header_style="bold",
        caption="under each figure: its 95% bootstrap interval",
    )
    table.add_column("type")
    table.add_column("n", justify="right")
    for name in ("R@1", "R@5", "R@10", "MRR", "mAP", "nDCG@10"):
        table.add_column(name, justify="right")
    for group, row in groups.items():
        cells = [
            Text(f"{row[m]:.3f}\n")
            + Text(f"{row['ci95'][m][0]:.2f}–{row['ci95'][m][1]:.2f}", style="dim")
            for m in metrics
        ]
        table.add_row(Text(group, style="bold" if group == "all" else ""), str(row["n"]), *cells)
    stdout_console().print(table)


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} files/s" if speed else "– files/s", style="dim")


class ProgressReporter:
    """Rich progress bar on stderr, plus one line per skipped file."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self.console = stderr_console()
        self._progress: Progress | None = None
        self._task: Any = None

    def start(self, total: int) -> None:
        if self.quiet or not self.console.is_terminal or total == 0:
            return
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("indexing"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task("indexing", total=total)

    def advance(self, count: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, count)

    def skip(self, path: str, reason: str) -> None:
        if not self.quiet:
            self.console.print(Text(f"skipped {path}: {reason}", style="yellow"))

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class TuneProgress:
    """`xmodal tune`: a bar per map trained, on stderr, with its held-out Recall@1."""

    def __init__(self, *, quiet: bool) -> None:
        self.console = stderr_console()
        self.on = not quiet and self.console.is_terminal
        self._progress: Progress | None = None
        self._tasks: dict[str, Any] = {}

    def __call__(self, label: str, epoch: int, epochs: int, figures: dict[str, float]) -> None:
        if not self.on:
            return
        if self._progress is None:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("tuning {task.description}"),
                BarColumn(),
                TextColumn("epoch {task.completed}/{task.total}"),
                TextColumn("held-out R@1 {task.fields[r1]}"),
                console=self.console,
                transient=True,
            )
            self._progress.start()
        if label not in self._tasks:
            self._tasks[label] = self._progress.add_task(label, total=epochs, r1="–")
        self._progress.update(self._tasks[label], completed=epoch, r1=f"{figures['recall@1']:.3f}")

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def tune_summary(report: dict[str, Any], notes: list[str], *, as_json: bool, quiet: bool) -> None:
    """`xmodal tune`: per adapter, held-out R@1/R@5 before → after and whether it was kept."""
    if not quiet:
        for note in notes:
            stderr_console().print(note, style="yellow")
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for name in ("type", "pairs", "train/held", "R@1", "R@5", "best epoch", "kept"):
        table.add_column(
            name, justify="left" if name in ("type", "kept") else "right", no_wrap=True
        )
    for row in report["adapters"]:
        before, after = row["before"], row["after"]
        figures = [
            f"{before[m]:.2f} → {after[m]:.2f}" if before else "–" for m in ("recall@1", "recall@5")
        ]
        table.add_row(
            row["type"],
            str(row["pairs"]),
            f"{row['train']}/{row['held_out']}",
            *figures,
            f"{row['best_epoch']}/{row['epochs']}",
            "yes" if row["kept"] else "no",
        )
    console = stdout_console()
    console.print(table)
    console.print(
        f"{report['pairs']} pairs, {report['kept']} adapter(s) saved, {report['seconds']:.1f} s"
    )
