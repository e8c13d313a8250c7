"""What runs on a Dask worker: the engine's sessions (a worker plugin) and the item task.

`EnginePlugin` is registered by the client for one run. On each worker, its ``setup`` reads
every account's credentials from the worker's own environment (the plugin carries only
where they are, `CredentialSource`), opens one `Session` per account on the worker's event
loop and binds it to the account's cluster-wide `distributed.Semaphore`. `fetch` is the task
of one item: it runs the account's `HttpTransfer` there and returns the `ItemResult`; it
never touches the ledger (the client is its only writer). Events go to the client through
Dask's event log (`Worker.log_event`), as plain dicts.
"""

from __future__ import annotations

import contextlib
import hashlib
import signal
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
from distributed import Semaphore, WorkerPlugin, get_worker

from ..account_list import CredentialSource
from ..config import Endpoints, Limits
from ..download.plan import Job
from ..download.results import ItemResult
from ..download.transfer import HttpTransfer
from ..events import Event, EventSink, to_message
from ..quota import ConnectionBudget
from ..retry import RetryPolicy
from ..session import Session


@dataclass(frozen=True)
class RemoteAccount:
    """An account as a cluster's workers get it: its name, its quota and where its
    credentials are (never the credentials)."""

    name: str
    connections: int
    source: CredentialSource


class ClusterBudget(ConnectionBudget):
    """A worker's connection budget that also holds a lease of the account's cluster-wide
    semaphore while a connection is open.

    The worker's own cap comes first, then the lease, which is given back only after the
    response body is closed: across the cluster, the account never has more connections
    open than the semaphore's leases.
    """

    def __init__(self, limit: int, lease: Semaphore, sink: EventSink) -> None:
        super().__init__(limit, sink)
        self._lease = lease

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with super().slot():
            await self._lease.acquire()
            try:
                yield
            finally:
                # Shielded: a cancelled transfer still gives its lease back now, rather
                # than after the scheduler's lease timeout.
                with anyio.CancelScope(shield=True):
                    await self._lease.release()


def lease_name(endpoints: Endpoints, username: str) -> str:
    """The name of an account's semaphore: the same for every run and worker using the
    account, without the user name in it (names show on the dashboard)."""
    digest = hashlib.sha256(f"{endpoints.token_url}\n{username}".encode()).hexdigest()
    return f"phidown:{digest[:16]}"


class EnginePlugin(WorkerPlugin):
    """The engine on each worker for one run: a session and a transfer per account.

    Args:
        run: the run's id (names the plugin and its event topic).
        endpoints, limits, retry: as for a run in one process (``limits.connections`` is
            replaced by each account's own).
        accounts: the run's accounts; an unnamed one (``""``) for a single-account run.
        verify, extract: as for `HttpTransfer`.
    """

    def __init__(
        self,
        run: str,
        endpoints: Endpoints,
        limits: Limits,
        retry: RetryPolicy,
        accounts: tuple[RemoteAccount, ...],
        *,
        verify: bool | str = "default",
        extract: bool = False,
    ) -> None:
        self.run = run
        self.endpoints = endpoints
        self.limits = limits
        self.retry = retry
        self.accounts = accounts
        self.verify = verify
        self.extract = extract
        self.transfers: dict[str, HttpTransfer] = {}
        self._sessions: list[Session] = []
        self._leases: list[Semaphore] = []

    @property
    def name(self) -> str:
        return plugin_name(self.run)

    def __getstate__(self) -> dict[str, Any]:
        # What travels through the scheduler: settings and credential sources only.
        state = dict(self.__dict__)
        state.update(transfers={}, _sessions=[], _leases=[])
        return state

    async def setup(self, worker: Any) -> None:
        sink = _forward(worker, event_topic(self.run))
        for account in self.accounts:
            named = f"account {account.name!r}" if account.name else "the account"
            credentials = account.source.read(where=f"{named} on worker {worker.address}")
            lease = Semaphore(
                max_leases=account.connections,
                name=lease_name(self.endpoints, credentials.username),
                scheduler_rpc=worker.scheduler,
                loop=worker.loop,
            )
            await lease.register()
            self._leases.append(lease)
            limits = self.limits.for_account(account.connections)
            session = Session(
                self.endpoints,
                credentials,
                limits=limits,
                retry=self.retry,
                sink=sink,
                share_login=True,
                budget=ClusterBudget(account.connections, lease, sink),
            )
            self._sessions.append(session)
            self.transfers[account.name] = HttpTransfer(
                session, verify=self.verify, extract=self.extract, sink=sink
            )

    async def teardown(self, worker: Any) -> None:
        for lease in self._leases:
            # Its leases are all given back by now; stop refreshing them. The semaphore
            # itself stays registered for the other workers and runs of the account.
            refresh = getattr(lease, "refresh_callback", None)
            if refresh is not None:
                refresh.stop()
        for session in self._sessions:
            await session.aclose()


class LeaveInterruptsToTheClient(WorkerPlugin):
    """For the worker processes of a local cluster: Ctrl-C in a terminal reaches every
    process of the group, and each worker would print a KeyboardInterrupt traceback; they
    ignore it instead, and the client, which owns them, stops them."""

    idempotent = True
    name = "phidown-async:local-workers"

    def setup(self, worker: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def plugin_name(run: str) -> str:
    """The name a run's `EnginePlugin` is registered under."""
    return f"phidown-async:{run}"


def event_topic(run: str) -> str:
    """The Dask event topic a run's workers send their events to."""
    return f"phidown-async:{run}"


def _forward(worker: Any, topic: str) -> EventSink:
    """A sink that sends each event to the client (from the worker's loop thread)."""
    loop_thread = threading.get_ident()

    def sink(event: Event) -> None:
        message = to_message(event)
        if threading.get_ident() == loop_thread:
            worker.log_event(topic, message)
        else:
            worker.loop.add_callback(worker.log_event, topic, message)

    return sink


async def _no_report(_size: int) -> bool:
    # The client keeps the ledger; a worker's claim is the client's, heart-beaten there.
    return True


async def fetch(run: str, account: str, job: Job) -> ItemResult:
    """The task of one item: fetch, verify and install ``job`` with ``account``'s transfer
    on this worker."""
    plugin = get_worker().plugins[plugin_name(run)]
    assert isinstance(plugin, EnginePlugin)
    return await plugin.transfers[account](job, _no_report)
