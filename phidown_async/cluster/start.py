"""``--cluster``: a Dask cluster to run a pull on, started here or joined.

``local:N`` starts a `distributed.LocalCluster` of N worker processes on this machine;
``tcp://HOST:PORT`` (or ``tls://``) joins the scheduler of an existing cluster, whose workers
must see the output folder and have the credentials in their own environment.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio

from ..errors import ConfigError
from ..extras import needs

_LOCAL = re.compile(r"local:(\d+)")
_ADDRESS = re.compile(r"(tcp|tls)://[^\s/:]+:\d+")
#: Seconds a client or a local cluster may take to close when a run ends.
CLOSE_SECONDS = 30.0
USAGE = "local:N (N worker processes here) or a scheduler address tcp://HOST:PORT"


@dataclass(frozen=True)
class ClusterSpec:
    """Where a pull runs: ``processes`` local worker processes, or the scheduler at
    ``address``."""

    processes: int = 0
    address: str = ""

    def __str__(self) -> str:
        if self.processes:
            plural = "es" if self.processes > 1 else ""
            return f"a local Dask cluster of {self.processes} process{plural}"
        return f"the Dask cluster at {self.address}"


def parse_cluster(text: str) -> ClusterSpec:
    """The cluster that ``text`` names.

    Raises:
        ConfigError: neither ``local:N`` with N of at least 1 nor a scheduler address.
    """
    text = text.strip()
    if match := _LOCAL.fullmatch(text):
        processes = int(match[1])
        if processes < 1:
            raise ConfigError(f"--cluster {text}: a local cluster needs at least 1 process")
        return ClusterSpec(processes=processes)
    if _ADDRESS.fullmatch(text):
        return ClusterSpec(address=text)
    raise ConfigError(f"--cluster {text!r} is not {USAGE}")


@contextlib.asynccontextmanager
async def open_cluster(spec: ClusterSpec, *, threads: int) -> AsyncIterator[object]:
    """An asynchronous `distributed.Client` of the cluster ``spec`` names, closed (with the
    cluster it started) on leaving.

    Args:
        threads: items each local worker process may hold at once (the run's whole
            window, so that no process waits while another is full).

    Raises:
        MissingExtraError: the ``dask`` extra is not installed.
        ConfigError: the scheduler cannot be reached.
    """
    with needs("dask", "--cluster"):
        from distributed import Client, LocalCluster

    async with contextlib.AsyncExitStack() as stack:
        if spec.processes:
            cluster = await LocalCluster(
                n_workers=spec.processes,
                threads_per_worker=threads,
                processes=True,
                asynchronous=True,
                # Its diagnostics server on loopback, on a free port (the default would
                # take :8787 on every interface, even with the dashboard off).
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                silence_logs=logging.ERROR,
            )
            stack.push_async_callback(_close, cluster)
            target: object = cluster
        else:
            target = spec.address
        try:
            client = await Client(target, asynchronous=True, timeout="10s")
        except OSError as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {spec.address}: {exc}") from None
        stack.push_async_callback(_close, client)
        if spec.processes:
            from .worker import LeaveInterruptsToTheClient

            await client.register_plugin(LeaveInterruptsToTheClient())
        yield client


async def _close(closable: Any) -> None:
    # Shielded (and bounded): a run stopped by Ctrl-C still closes its client and stops the
    # worker processes it started, instead of leaving them to the garbage collector.
    with anyio.move_on_after(CLOSE_SECONDS, shield=True):
        await closable.close()
