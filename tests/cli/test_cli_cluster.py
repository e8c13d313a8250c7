"""``phidown-async download --cluster``: the run on a local Dask cluster; refused uses."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ACCOUNTS, PRODUCTS, CliRun, accounts_env, cli_program, sandbox_env

from phidown_async.ledger import Ledger
from phidown_async.sandbox import Sandbox, SandboxConfig

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


def group_alive(group: int) -> list[int]:
    """The processes still in process group ``group``."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


@pytest.mark.slow
def test_ctrl_c_stops_a_cluster_run_cleanly_and_the_same_command_resumes(
    home: Path, tmp_path: Path
) -> None:
    config = SandboxConfig(seed=3, products=4, product_size=4 << 20, bandwidth=1.0)
    with Sandbox(config) as sandbox:
        ids = [p["Id"] for p in sandbox.archive.products[:4]]
        command = [*cli_program(), "download", *ids, "-o", "data", "--cluster", "local:2"]
        env = sandbox_env(sandbox, home)
        # A terminal's Ctrl-C reaches the whole process group: the command and its workers.
        process = subprocess.Popen(
            command,
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size > 500_000 for p in (tmp_path / "data").glob("*.part")):
            assert time.monotonic() < deadline and process.poll() is None, "no transfer began"
            time.sleep(0.05)
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)

        assert process.returncode == 130, output
        assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
        assert "Interrupted." in output
        # No worker process left behind (the last ones may take a moment to exit).
        deadline = time.monotonic() + 10
        while group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert group_alive(process.pid) == []
        with Ledger(tmp_path / "data" / ".phidown_ledger.sqlite", readonly=True) as ledger:
            counts = ledger.summary()
        assert (counts.active, counts.done, counts.pending) == (0, 0, 4)

        again = subprocess.run(
            command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert sandbox.counters.resumes()  # a part of the stopped run was resumed
        served = sandbox.stats()["items"]
        sizes = {
            p["Id"]: sandbox.archive.product(p["Id"])["ContentLength"]
            for p in sandbox.archive.products[:4]
        }
        # Fetched once, but for what a stopped worker had received and not yet written (up
        # to a megabyte, as README's limits say) and what was still in the sockets' buffers
        # (on a loaded machine, up to another megabyte at this rate).
        lost = 2 << 20
        assert all(sizes[i] <= served[i] <= sizes[i] + lost for i in ids), (served, sizes)
