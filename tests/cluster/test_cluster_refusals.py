"""What a pull on a cluster refuses, each as one clear error, before anything is fetched."""

from __future__ import annotations

from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from phidown_async import Account, Credentials  # noqa: E402
from phidown_async.account_list import CredentialSource  # noqa: E402
from phidown_async.cluster.client import check_client, remote_accounts  # noqa: E402
from phidown_async.cluster.start import ClusterSpec, parse_cluster  # noqa: E402
from phidown_async.config import Limits  # noqa: E402
from phidown_async.download import LEDGER_NAME, download_products  # noqa: E402
from phidown_async.errors import ConfigError, CredentialsError  # noqa: E402
from phidown_async.ledger import Ledger  # noqa: E402


def test_cluster_specs() -> None:
    assert parse_cluster("local:3") == ClusterSpec(processes=3)
    assert parse_cluster(" tcp://10.0.0.5:8786 ") == ClusterSpec(address="tcp://10.0.0.5:8786")
    assert parse_cluster("tls://scheduler.example:8786").address == "tls://scheduler.example:8786"
    for bad in ("local", "local:x", "10.0.0.5:8786", "tcp://host", "http://host:80"):
        with pytest.raises(ConfigError, match="is not local:N"):
            parse_cluster(bad)


def test_credentials_given_in_code_cannot_reach_the_workers(tmp_path) -> None:
    in_code = Account("alice", Credentials("alice@example.com", "secret"))
    with pytest.raises(ConfigError, match="'alice' was given with its credentials in code"):
        remote_accounts([in_code], Limits())
    sourced = Account("bob", Credentials("b", "p"), 3, CredentialSource("B_USER", "B_PASS"))
    (remote,) = remote_accounts([sourced], Limits())
    assert (remote.name, remote.connections, remote.source.password_env) == ("bob", 3, "B_PASS")
    assert "p" not in vars(remote).values()
    (default,) = remote_accounts([], Limits.for_connections(2))
    assert (default.name, default.connections, default.source) == ("", 2, CredentialSource())


async def test_a_session_or_credentials_with_a_cluster_are_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match="read credentials from their own environment"):
        await download_products([], tmp_path, credentials=Credentials("u", "p"), cluster=object())
    with pytest.raises(ConfigError, match=r"must be a distributed\.Client, got object"):
        check_client(object())


async def test_a_worker_without_the_credential_variable_says_which(
    sandbox_factory, tmp_path, monkeypatch
) -> None:
    sandbox = sandbox_factory(products=2)
    monkeypatch.setenv("ALICE_USER", "alice@example.com")
    account = Account(
        "alice", Credentials("alice@example.com", "x"), 2, CredentialSource("ALICE_USER", "NOPE")
    )
    items = [sandbox.archive.product(p["Id"]) for p in sandbox.archive.products[:2]]
    async with (
        distributed.LocalCluster(
            n_workers=1, processes=False, asynchronous=True, dashboard_address="127.0.0.1:0"
        ) as cluster,
        distributed.Client(cluster, asynchronous=True) as client,
    ):
        with pytest.raises(
            CredentialsError, match=r"account 'alice' on worker .*: environment variable NOPE"
        ):
            await download_products(
                items, tmp_path, accounts=[account], endpoints=sandbox.endpoints, cluster=client
            )
    assert sandbox.counters.requests("token") == 0
    assert not list(tmp_path.glob("*.zip*"))


def test_a_synchronous_client_is_refused() -> None:
    with (
        distributed.LocalCluster(
            n_workers=1, processes=False, dashboard_address="127.0.0.1:0"
        ) as cluster,
        distributed.Client(cluster) as client,
        pytest.raises(ConfigError, match=r"needs an asynchronous distributed\.Client"),
    ):
        check_client(client)


class Unshared(distributed.WorkerPlugin):
    """Takes each file away as soon as the worker has installed it: the view of a client
    whose workers write to disks of their own."""

    def __init__(self, out: str) -> None:
        self.out = out

    def transition(self, key, start, finish, **kwargs) -> None:
        if str(key).startswith("phidown-") and finish == "memory":
            for path in Path(self.out).glob("*.zip"):
                path.unlink()


async def test_an_output_folder_the_workers_do_not_share_stops_the_run(
    sandbox_factory, tmp_path, monkeypatch
) -> None:
    sandbox = sandbox_factory(products=4, product_size=64 * 1024)
    monkeypatch.setenv("CDSE_USERNAME", sandbox.config.username)
    monkeypatch.setenv("CDSE_PASSWORD", sandbox.config.password)
    items = [sandbox.archive.product(p["Id"]) for p in sandbox.archive.products[:4]]
    async with (
        distributed.LocalCluster(
            n_workers=1, processes=False, asynchronous=True, dashboard_address="127.0.0.1:0"
        ) as cluster,
        distributed.Client(cluster, asynchronous=True) as client,
    ):
        await client.register_plugin(Unshared(str(tmp_path)))
        with pytest.raises(ConfigError, match="which this machine does not see"):
            await download_products(
                items,
                tmp_path,
                endpoints=sandbox.endpoints,
                limits=Limits.for_connections(1, 1),
                cluster=client,
            )
    with Ledger(tmp_path / LEDGER_NAME, readonly=True) as ledger:
        counts = ledger.summary()
    assert (counts.done, counts.active) == (0, 0)  # nothing recorded as there
