"""The end of a download run: the summary table, every failure with its reason, the exit code;
or the same as one JSON document (``--json``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from .console import EXIT_FAILED, EXIT_OK, format_bytes, format_duration

if TYPE_CHECKING:
    from ..download.results import ItemResult, RunSummary


def unverified(summary: RunSummary) -> list[ItemResult]:
    """Items that did not end verified on disk: failures, and skips without a file
    (another process held them)."""
    return [
        result
        for result in summary.results
        if result.status == "failed" or (result.status == "skipped" and result.path is None)
    ]


def held_elsewhere(summary: RunSummary) -> list[ItemResult]:
    """Items left to the process holding them (``--no-wait``): not failures, not verified."""
    return [r for r in summary.results if r.status == "skipped" and r.path is None]


def exit_code(summary: RunSummary) -> int:
    """0 when every item is verified on disk, 1 otherwise (DESIGN.md)."""
    return EXIT_FAILED if unverified(summary) else EXIT_OK


def summary_table(summary: RunSummary, title: str = "Download summary") -> Table:
    """Counts, bytes, time and rate of a run."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    already = sum(1 for r in summary.results if r.status == "skipped" and r.path is not None)
    table.add_row("items", str(len(summary.results)))
    table.add_row("downloaded and verified", str(summary.downloaded))
    table.add_row("already there (verified)", str(already))
    table.add_row("failed", str(summary.failed))
    held = held_elsewhere(summary)
    if held:
        table.add_row("held by another process", str(len(held)))
    table.add_row("received", format_bytes(summary.bytes))
    table.add_row("time", format_duration(summary.seconds))
    rate = summary.bytes / summary.seconds if summary.seconds > 0 else 0.0
    table.add_row("average rate", f"{format_bytes(rate)}/s")
    return table


def failures_table(failed: list[ItemResult], title: str = "Not downloaded") -> Table:
    """One row per item that is not verified: name, attempts, permanent or not, reason."""
    table = Table(title=title, title_justify="left", title_style="bold red")
    table.add_column("item", overflow="fold")
    table.add_column("tries", justify="right")
    table.add_column("failure")
    table.add_column("reason", overflow="fold")
    for result in failed:
        table.add_row(
            result.name or result.id or "(no id)",
            str(result.attempts),
            "permanent" if result.permanent else "transient",
            result.reason or "failed",
        )
    return table


def failures_line(failed: list[ItemResult], total: int, resume_hint: str | None) -> str:
    """How many items are missing and whether running again can help (transient ones only)."""
    permanent = sum(1 for result in failed if result.permanent)
    head = f"{len(failed)} of {total} items were not downloaded"
    if permanent == len(failed):
        return (
            f"{head}; each failure is permanent (see its reason), so running again will not help."
        )
    again = f": {resume_hint}" if resume_hint else "."
    transient = len(failed) - permanent
    if not permanent:
        return f"{head}. Run the same command again to retry them{again}"
    return (
        f"{head} ({permanent} permanent, {transient} transient). Run the same command again "
        f"to retry the transient ones{again}"
    )


def print_report(console: Console, summary: RunSummary, resume_hint: str | None) -> int:
    """Print the summary (and failures); return the exit code.

    Args:
        console: where to print.
        summary: the run's outcome.
        resume_hint: the command that retries the failures, when known.
    """
    console.print(summary_table(summary))
    held = held_elsewhere(summary)
    if held:
        console.print(failures_table(held, "Held by another process"))
        console.print(
            f"{len(held)} of {len(summary.results)} items are being downloaded by another "
            "process; run the same command again once it has finished to check them.",
            markup=False,
            soft_wrap=True,
        )
    failed = list(summary.failures)
    if failed:
        console.print(failures_table(failed))
        console.print(
            failures_line(failed, len(summary.results), resume_hint),
            markup=False,
            soft_wrap=True,
        )
    elif not held:
        console.print(f"All {len(summary.results)} items verified.", markup=False)
    return exit_code(summary)


def _result(result: ItemResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "name": result.name,
        "status": result.status,
        "path": str(result.path) if result.path is not None else None,
        "reason": result.reason,
        "attempts": result.attempts,
        "bytes": result.bytes,
        "size": result.size,
        "checksum": result.checksum,
        "permanent": result.permanent,
        "notes": list(result.notes),
    }


def summary_json(summary: RunSummary) -> str:
    """The run as one JSON document: its counts, bytes, time, exit code and every item."""
    already = sum(1 for r in summary.results if r.status == "skipped" and r.path is not None)
    return json.dumps(
        {
            "items": len(summary.results),
            "downloaded": summary.downloaded,
            "already_there": already,
            "failed": summary.failed,
            "held_elsewhere": len(held_elsewhere(summary)),
            "bytes": summary.bytes,
            "seconds": round(summary.seconds, 3),
            "exit_code": exit_code(summary),
            "results": [_result(r) for r in summary.results],
        }
    )
