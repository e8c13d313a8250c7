"""Help texts, the progress bookkeeping, and the demo's guard of its output folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CliRun

from phidown_async.cli.progress import RunProgress, overall_line
from phidown_async.events import (
    BytesReceived,
    ItemFailed,
    ItemSkipped,
    ItemStarted,
    ItemVerified,
    QuotaChanged,
    RetryScheduled,
)


@pytest.mark.parametrize("command", ["search", "download", "ledger", "sandbox", "demo"])
def test_every_command_has_help_with_an_example(cli: CliRun, command: str) -> None:
    result = cli(command, "--help")

    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout
    assert f"phidown-async {command}" in result.stdout


def test_progress_counts_items_bytes_and_time_left() -> None:
    now = [100.0]
    progress = RunProgress(4, sizes={"a": 1_000_000, "b": 1_000_000}, clock=lambda: now[0])
    progress(ItemStarted("a", "product-a", 1_000_000))
    progress(ItemStarted("b", "product-b", 1_000_000, resume_from=500_000))
    now[0] += 1.0
    progress(BytesReceived("a", 250_000))
    progress(BytesReceived("b", 250_000))
    progress(RetryScheduled("b", 1, 2.0, "CDSE answered 503"))
    progress(ItemFailed("c", "no product named 'c' in the catalogue", 0))
    progress(ItemSkipped("d", "already downloaded"))

    snap = progress.snapshot()
    line = overall_line(snap)
    assert "2/4 items" in line
    assert "failed 1" in line and "retrying 1" in line and "already there 1" in line
    assert snap.bytes_done == 1_000_000  # 250 kB of a, 500 kB resumed plus 250 kB of b
    assert snap.bytes_total == 2_000_000  # c and d are out of the byte total
    assert snap.rate == pytest.approx(500_000)
    assert snap.eta == pytest.approx(2.0)
    assert [item.name for item in snap.active] == ["product-a", "product-b"]
    assert snap.active[1].retrying == "CDSE answered 503"

    progress(ItemVerified("a", "/data/a.zip", 1_000_000))
    progress(ItemVerified("a", "/data/a.zip", 1_000_000))  # one outcome per item
    progress(QuotaChanged("", 3, "429 DAT-ZIP-100"))
    line = overall_line(progress.snapshot())
    assert "done 1" in line
    assert "connections 3" in line


def test_demo_will_not_delete_a_folder_it_did_not_make(cli: CliRun, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")

    result = cli("demo", "--out-dir", str(precious))

    assert result.exit_code == 2
    assert "was not made by the demo" in result.stderr
    assert (precious / "thesis.tex").read_text() == "years of work"
