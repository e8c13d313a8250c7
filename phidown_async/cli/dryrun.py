"""``download --dry-run``: the planned run as a table and totals, or as JSON.

Totals: items, items already there, items that cannot be downloaded, bytes in all, bytes
to fetch, and the time that takes at the account's quota (connections x
`config.CONNECTION_RATE`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from ..config import CONNECTION_RATE
from .console import format_bytes, format_duration

if TYPE_CHECKING:
    from ..config import Endpoints
    from ..download.preview import DownloadPreview
    from .run import DownloadPlan

TABLE_ROWS = 50
STATUS_WORDS = {"fetch": "to fetch", "there": "already there", "failed": "cannot download"}


async def plan_preview(plan: DownloadPlan, endpoints: Endpoints) -> DownloadPreview:
    """The preview of ``plan``'s run (look-ups through a session without credentials)."""
    from ..download.preview import preview_download
    from ..session import Session

    async with Session(endpoints, limits=plan.limits, retry=plan.retry) as session:
        return await preview_download(
            plan.items,
            plan.out_dir,
            session=session,
            kind=plan.kind,  # type: ignore[arg-type]
            ledger_path=plan.ledger_path,
        )


def totals(preview: DownloadPreview, connections: int) -> dict[str, Any]:
    """The plan's counts, bytes and estimated time at ``connections`` x the per-connection cap."""
    rate = connections * CONNECTION_RATE
    return {
        "items": len(preview.items),
        "to_fetch": preview.count("fetch"),
        "already_there": preview.count("there"),
        "cannot_download": preview.count("failed"),
        "bytes_total": preview.bytes_total,
        "bytes_there": preview.bytes_there,
        "bytes_to_fetch": preview.bytes_to_fetch,
        "unknown_sizes": preview.unknown_sizes,
        "connections": connections,
        "rate": rate,
        "seconds": round(preview.seconds_at(rate), 1),
    }


def as_json(preview: DownloadPreview, connections: int) -> str:
    """The plan as one JSON document: the totals, and every item under ``plan``."""
    items = [
        {
            "id": item.id,
            "name": item.name,
            "status": item.status,
            "size": item.size,
            "partial": item.partial,
            "to_fetch": item.to_fetch,
            "path": str(item.target) if item.target is not None else None,
            "reason": item.reason,
        }
        for item in preview.items
    ]
    return json.dumps({"dry_run": True, **totals(preview, connections), "plan": items})


def print_plan(console: Console, preview: DownloadPreview, connections: int) -> None:
    """The plan as a table of its first items, then the totals."""
    table = Table(title=f"Dry run: {len(preview.items)} items", title_justify="left")
    table.add_column("item", overflow="fold")
    table.add_column("size", justify="right")
    table.add_column("status")
    table.add_column("to fetch", justify="right")
    for item in preview.items[:TABLE_ROWS]:
        status = STATUS_WORDS[item.status]
        if item.reason:
            status += f": {item.reason}"
        elif item.partial:
            status += f" (resumes at {format_bytes(item.partial)})"
        table.add_row(
            item.name or item.id,
            format_bytes(item.size),
            status,
            format_bytes(item.to_fetch),
        )
    if len(preview.items) > TABLE_ROWS:
        table.caption = f"first {TABLE_ROWS} of {len(preview.items)}; --json lists them all"
    console.print(table)
    figures = totals(preview, connections)
    unknown = (
        f" ({figures['unknown_sizes']} items of unknown size not counted)"
        if figures["unknown_sizes"]
        else ""
    )
    console.print(
        f"{figures['to_fetch']} to fetch, {figures['already_there']} already there, "
        f"{figures['cannot_download']} cannot be downloaded. "
        f"{format_bytes(figures['bytes_to_fetch'])} to fetch of "
        f"{format_bytes(figures['bytes_total'])}{unknown}: about "
        f"{format_duration(figures['seconds'])} at {connections} connections x "
        f"{format_bytes(CONNECTION_RATE)}/s. Nothing was downloaded.",
        markup=False,
        soft_wrap=True,
    )
