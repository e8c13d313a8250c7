"""``phidown-async download --cluster``: the run on a local Dask cluster; refused uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ACCOUNTS, PRODUCTS, CliRun, accounts_env, sandbox_env

from phidown_async.ledger import Ledger
from phidown_async.sandbox import Sandbox

pytest.importorskip("distributed")


@pytest.mark.slow
def test_a_download_on_a_local_cluster_with_two_accounts(
    cli: CliRun, two_users: Sandbox, home: Path, tmp_path: Path
) -> None:
    (tmp_path / "accounts.toml").write_text(ACCOUNTS)
    result = cli(
        "download", *PRODUCTS, "--limit", "8", "-o", "data", "--accounts", "accounts.toml",
        "--cluster", "local:2",
        environment=accounts_env(two_users, home),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "a local Dask cluster of 2 processes" in result.stdout
    assert "All 8 items verified." in result.stdout
    with Ledger(tmp_path / "data" / ".phidown_ledger.sqlite", readonly=True) as ledger:
        rows = ledger.rows()
    assert len(rows) == 8 and {row.state for row in rows} == {"done"}
    assert {row.account for row in rows} == {"alice", "bob"}
    stats = two_users.stats()
    assert all(counts["peak_downloads"] <= 2 for counts in stats["users"].values())
    assert all(counts["throttled"] == 0 for counts in stats["users"].values())
    assert len(stats["items"]) == 8  # each served once, whole
    assert sorted(stats["items"].values()) == sorted(row.size for row in rows)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--cluster", "local:0"], "a local cluster needs at least 1 process"),
        (["--cluster", "somewhere"], "is not local:N (N worker processes here) or a scheduler"),
        (["--cluster", "local:2", "--bursts"], "--cluster fetches products over HTTPS"),
        (["--cluster", "local:2", "--transport", "s3"], "--cluster fetches products over HTTPS"),
        (["--cluster", "local:2", "--totp", "123456"], "read the two-factor code from CDSE_TOTP"),
    ],
)
def test_a_cluster_it_cannot_use_is_one_line_and_exit_2(
    cli: CliRun, two_users: Sandbox, home: Path, extra: list[str], message: str
) -> None:
    result = cli("download", "some-id", *extra, environment=sandbox_env(two_users, home))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert two_users.counters.requests("token") == 0


@pytest.mark.slow
def test_a_download_joins_a_running_scheduler(
    cli: CliRun, two_users: Sandbox, home: Path, tmp_path: Path
) -> None:
    import distributed

    class Keys(distributed.diagnostics.plugin.SchedulerPlugin):
        def __init__(self) -> None:
            self.seen: list[str] = []

        def update_graph(self, scheduler, *, keys, **kwargs) -> None:
            self.seen += [str(key) for key in keys]

    keys = Keys()
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=4,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        cluster.scheduler.add_plugin(keys)
        result = cli(
            "download", *PRODUCTS, "--limit", "4", "-o", "data",
            "--cluster", cluster.scheduler_address,
            environment=sandbox_env(two_users, home),
        )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert f"the Dask cluster at {cluster.scheduler_address}" in result.stdout
    assert "All 4 items verified." in result.stdout
    # Each item was one task of that scheduler.
    assert len([key for key in keys.seen if key.startswith("phidown-")]) == 4
