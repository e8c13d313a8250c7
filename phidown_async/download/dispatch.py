"""Several accounts in one run: each item goes to the account with a free connection.

Every account keeps its own `Session`: its token, its connection budget and that budget's
429 adaptation. The run's workers share one stream of jobs (`pool.run_pool`); when a worker
takes a job, `AccountPool.lease` hands it to the account with the most room (its budget's
current limit, plus the spare workers that keep its connections busy while a finished file
is checked, minus the items it holds). An account that is throttled or slow simply takes
fewer items: work is stolen from one queue, never split up front.

Example:
    pool = AccountPool({"alice": alice_session, "bob": bob_session})
    transfer = pool.dispatch({name: HttpTransfer(s) for name, s in pool.sessions.items()})
    summary = await run_pool(jobs, transfer, ledger=ledger, workers=pool.workers)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Protocol

import anyio

from ..config import Limits
from ..quota import ConnectionBudget
from ..session import Session
from .plan import Job
from .pool import ProgressReport, TransferFn
from .results import ItemResult

#: Seconds between looks at the accounts while every one is full: a budget that recovered
#: or a pause that ended frees room without an item finishing.
RECHECK = 0.25


class Seat(Protocol):
    """What the pool reads of an account: its limits and its connection budget (a
    `Session` has both; a cluster's client keeps them for accounts whose sessions live on
    the workers)."""

    limits: Limits
    budget: ConnectionBudget


class AccountPool:
    """Named sessions that items are leased to, one item at a time.

    Args:
        sessions: account name -> its session, or its `Seat` (at least one).

    The one unnamed session (name ``""``) of a single-account run is used as is:
    `dispatch` returns its transfer and results carry no account name.
    """

    def __init__(self, sessions: Mapping[str, Session] | Mapping[str, Seat]) -> None:
        if not sessions:
            raise ValueError("an AccountPool needs at least one session")
        self.sessions = dict(sessions)
        self._held = dict.fromkeys(self.sessions, 0)
        self._freed: anyio.Event | None = None

    @property
    def first(self) -> Session:
        """The first account's session (look-ups of Ids and names go through it)."""
        first = next(iter(self.sessions.values()))
        assert isinstance(first, Session), "a pool of seats has no session"
        return first

    @property
    def workers(self) -> int:
        """Items in flight for the whole run: every account's workers."""
        return sum(session.limits.workers for session in self.sessions.values())

    def room(self, name: str) -> int:
        """How many more items account ``name`` may take now."""
        session = self.sessions[name]
        return session.budget.limit + session.limits.spare - self._held[name]

    def _pick(self) -> str | None:
        open_ = [name for name in self.sessions if self.room(name) > 0]
        if not open_:
            return None
        # A paused account (Retry-After) takes items only when no other has room.
        awake = [name for name in open_ if not self.sessions[name].budget.paused] or open_
        return max(awake, key=self.room)  # ties: the first listed

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[str]:
        """Hold room on the account with the most of it; yields its name (waits while all
        are full)."""
        while (name := self._pick()) is None:
            if self._freed is None:
                self._freed = anyio.Event()
            with anyio.move_on_after(RECHECK):
                await self._freed.wait()
        self._held[name] += 1
        try:
            yield name
        finally:
            self._held[name] -= 1
            if self._freed is not None:
                self._freed.set()
                self._freed = None

    def dispatch(self, transfers: Mapping[str, TransferFn]) -> TransferFn:
        """One transfer function for the run: each job runs on a leased account's transfer,
        and its downloaded or failed result names that account.

        Args:
            transfers: account name -> the transfer bound to its session.
        """
        if list(transfers) == [""]:
            return transfers[""]

        async def transfer(job: Job, report: ProgressReport) -> ItemResult:
            async with self.lease() as name:
                result = await transfers[name](job, report)
            return result if result.status == "skipped" else replace(result, account=name)

        return transfer
