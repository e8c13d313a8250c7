"""The client's side of a pull on a Dask cluster: plan, lease, submit, record.

The client does what it does in one process (intake, planning, the ledger, results in
input order, the account each item goes to) and hands each item to the cluster as one
task (`worker.fetch`) instead of running its transfer itself. The pool's workers bound the
items submitted at once (every account's connections plus its spare workers), so a run of
100,000 items never has more than a handful of tasks on the scheduler, and an error that
ends the run (the account refused) stops submission. Events from the workers reach the
run's sink unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from distributed import Client, KilledWorker
from distributed.client import ClosedClientError

from ..account_list import Account, CredentialSource
from ..config import Endpoints, Limits
from ..download.dispatch import AccountPool
from ..download.intake import take_in
from ..download.plan import Job, plan_products
from ..download.pool import ProgressReport, still_there
from ..download.results import ItemResult, RunSummary
from ..download.run import run_in_order
from ..download.transfer import HttpTransfer
from ..errors import ConfigError
from ..events import EventSink, from_message
from ..quota import ConnectionBudget
from ..retry import RetryPolicy
from ..session import Session
from .worker import EnginePlugin, RemoteAccount, event_topic, fetch


@dataclass(frozen=True)
class _Seat:
    """An account as the client's pool sees it: its limits and a budget of its quota
    (the throttling itself happens in the workers' sessions)."""

    limits: Limits
    budget: ConnectionBudget


def remote_accounts(accounts: Sequence[Account], limits: Limits) -> tuple[RemoteAccount, ...]:
    """The run's accounts as the workers get them: where their credentials are, not them.

    Without ``accounts``: one unnamed account, from ``CDSE_USERNAME``/``CDSE_PASSWORD`` or
    ``~/.netrc`` of each worker, with ``limits.connections``.

    Raises:
        ConfigError: an account was given with its credentials in code (no source to read
            them from on the workers).
    """
    if not accounts:
        return (RemoteAccount("", limits.connections, CredentialSource()),)
    remote = []
    for account in accounts:
        if account.source is None:
            raise ConfigError(
                f"account {account.name!r} was given with its credentials in code; a "
                "cluster's workers read credentials from their own environment: give it "
                "a CredentialSource (environment variables or a netrc machine), as "
                "load_accounts does"
            )
        remote.append(RemoteAccount(account.name, account.connections, account.source))
    return tuple(remote)


def check_client(client: Any) -> Client:
    """``client`` if it is an asynchronous `distributed.Client`.

    Raises:
        ConfigError: something else, or a synchronous client (its futures cannot be
            awaited on the run's event loop).
    """
    if not isinstance(client, Client):
        raise ConfigError(f"cluster must be a distributed.Client, got {type(client).__name__}")
    if not client.asynchronous:
        raise ConfigError(
            "the async API needs an asynchronous distributed.Client: "
            "await Client(address, asynchronous=True)"
        )
    return client


class _Submitter:
    """Each item as one task on the cluster, and the workers' events to the run's sink."""

    def __init__(self, client: Client, run: str, sink: EventSink) -> None:
        self.client = client
        self.run = run
        self.sink = sink
        self._finished: set[str] = set()

    def on_event(self, record: tuple[float, Any]) -> None:
        """A worker's event, told to the sink (unless its item has already finished: the
        event log and the results travel separately)."""
        event = from_message(record[1])
        if not (event.item and event.item in self._finished):
            self.sink(event)

    async def transfer(self, account: str, job: Job, _report: ProgressReport) -> ItemResult:
        """Fetch ``job`` on the cluster with ``account``; its result."""
        self._finished.discard(job.id)
        future = self.client.submit(
            fetch, self.run, account, job, key=f"phidown-{self.run}-{job.id}"
        )
        try:
            result = await future
        except KilledWorker as exc:
            # The scheduler gave up after the item's workers died again and again.
            return ItemResult(job.id, job.name, "failed", reason=f"its workers died: {exc}")
        except BaseException:
            # Queued tasks go; a running one ends with its worker (or on its own). A
            # client already closed has nothing left to cancel: the first error stands.
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self.client.cancel([future])
            raise
        finally:
            self._finished.add(job.id)
            future.release()
        if result.status == "downloaded" and result.path is not None:
            seen = await anyio.to_thread.run_sync(still_there, str(result.path), result.size)
            if not seen:
                # Every other item would land out of sight too: stop the run.
                raise ConfigError(
                    f"a worker installed {result.path}, which this machine does not see: "
                    "the output folder must be one every worker shares"
                )
        return result


async def download_on_cluster(
    client: Any,
    items: Any,
    out: Path,
    *,
    stack: contextlib.AsyncExitStack,
    accounts: Sequence[Account],
    endpoints: Endpoints | None,
    limits: Limits,
    retry: RetryPolicy,
    ledger_path: str | Path | None,
    wait: bool,
    verify: bool | str,
    extract: bool,
    sink: EventSink,
) -> RunSummary:
    """Download products on the workers of ``client``'s cluster (see
    `download.download_products`; ``out`` must be a folder every worker sees)."""
    client = check_client(client)
    endpoints = endpoints or Endpoints.from_env()
    remote = remote_accounts(accounts, limits)
    # The catalogue needs no login: Ids and names are looked up without one.
    lookups = Session(endpoints, None, limits=limits, retry=retry, sink=sink)
    stack.push_async_callback(lookups.aclose)
    intake = await take_in(items, "product", lookups)
    planned, rejected = plan_products(intake, out, catalogue_url=endpoints.catalogue_url)

    run = uuid.uuid4().hex[:12]
    plugin = EnginePlugin(run, endpoints, limits, retry, remote, verify=verify, extract=extract)
    # A worker's setup error (an unset credential variable) is raised here, as itself.
    await client.register_plugin(plugin)
    stack.push_async_callback(_unregister, client, plugin.name)
    submitter = _Submitter(client, run, sink)
    client.subscribe_topic(event_topic(run), submitter.on_event)
    stack.callback(_unsubscribe, client, event_topic(run))

    seats = {
        account.name: _Seat(
            limits.for_account(account.connections), ConnectionBudget(account.connections)
        )
        for account in remote
    }
    pool = AccountPool(seats)
    transfers = {name: functools.partial(submitter.transfer, name) for name in seats}
    return await run_in_order(
        planned,
        rejected,
        pool.dispatch(transfers),
        stack=stack,
        ledger_path=ledger_path,
        out=out,
        workers=pool.workers,
        sink=sink,
        settled=HttpTransfer(lookups, extract=extract).unpacked,
        wait=wait,
    )


def _unsubscribe(client: Client, topic: str) -> None:
    # A client closed already took its subscriptions with it.
    with contextlib.suppress(ClosedClientError):
        client.unsubscribe_topic(topic)


async def _unregister(client: Client, name: str) -> None:
    # Shielded: a cancelled run still closes its sessions on the workers.
    with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
        await client.unregister_worker_plugin(name)
