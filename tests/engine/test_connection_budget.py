"""ConnectionBudget: never more than the current limit, throttles on 429, recovers."""

from __future__ import annotations

import anyio
import pytest

from phidown_async.errors import ConfigError
from phidown_async.events import EventLog, QuotaChanged
from phidown_async.quota import ConnectionBudget


async def crowd(budget: ConnectionBudget, tasks: int, hold: float = 0.002) -> tuple[int, int]:
    """``tasks`` concurrent users of the budget; returns (finished, most held at once)."""
    finished = 0
    holding = 0
    most = 0

    async def user() -> None:
        nonlocal finished, holding, most
        async with budget.slot():
            holding += 1
            most = max(most, holding)
            await anyio.sleep(hold)
            holding -= 1
        finished += 1

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(tasks):
                tg.start_soon(user)
    return finished, most


async def test_fifty_tasks_never_exceed_the_limit():
    budget = ConnectionBudget(4)
    finished, most = await crowd(budget, 50)
    assert finished == 50
    assert most == 4
    assert budget.peak == 4
    assert budget.in_use == 0


async def test_limit_of_one_serialises():
    budget = ConnectionBudget(1)
    finished, most = await crowd(budget, 20)
    assert (finished, most, budget.peak) == (20, 1, 1)


async def test_throttle_lowers_the_limit_and_pauses_new_slots():
    log = EventLog()
    budget = ConnectionBudget(4, log)
    budget.throttle(0.5, reason="429 DAT-ZIP-100")
    assert budget.limit == 3
    assert budget.paused
    [event] = log.of(QuotaChanged)
    assert event.limit == 3 and "429 DAT-ZIP-100" in event.reason

    got_one = False
    with anyio.move_on_after(0.1):
        async with budget.slot():
            got_one = True
    assert not got_one, "a slot was handed out during the server's Retry-After pause"

    with anyio.fail_after(5):
        async with budget.slot():
            got_one = True
    assert got_one


async def test_throttled_budget_holds_fewer_connections():
    budget = ConnectionBudget(4)
    budget.throttle(None)
    budget.throttle(None)
    finished, most = await crowd(budget, 50)
    assert (budget.limit, finished, most, budget.peak) == (2, 50, 2, 2)


async def test_recovers_one_step_per_run_of_successes():
    log = EventLog()
    budget = ConnectionBudget(4, log, recover_after=3)
    budget.throttle(None)
    budget.throttle(None)
    assert budget.limit == 2
    for _ in range(2):
        budget.succeeded()
    assert budget.limit == 2
    budget.succeeded()
    assert budget.limit == 3
    for _ in range(20):
        budget.succeeded()
    assert budget.limit == budget.max_limit == 4
    assert [e.limit for e in log.of(QuotaChanged)] == [3, 2, 3, 4]
    assert log.of(QuotaChanged)[-1].reason == "recovered"


async def test_throttle_resets_the_success_streak():
    budget = ConnectionBudget(2, recover_after=3)
    budget.throttle(None)
    budget.succeeded()
    budget.succeeded()
    budget.throttle(None)  # already at 1: stays there, and the streak starts again
    budget.succeeded()
    budget.succeeded()
    assert budget.limit == 1
    budget.succeeded()
    assert budget.limit == 2


async def test_throttles_during_one_pause_lower_the_limit_once():
    budget = ConnectionBudget(4)
    for _ in range(4):
        budget.throttle(0.2)
    assert budget.limit == 3


async def test_never_below_one():
    budget = ConnectionBudget(2)
    for _ in range(5):
        budget.throttle(None)
    assert budget.limit == 1
    finished, most = await crowd(budget, 5)
    assert (finished, most) == (5, 1)


async def test_growth_wakes_waiting_tasks():
    budget = ConnectionBudget(2, recover_after=1)
    budget.throttle(None)
    holding = 0
    most = 0
    release = anyio.Event()

    async def user() -> None:
        nonlocal holding, most
        async with budget.slot():
            holding += 1
            most = max(most, holding)
            await release.wait()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(user)
            tg.start_soon(user)
            await anyio.sleep(0.05)
            assert holding == 1
            budget.succeeded()  # limit back to 2: the waiting task gets its slot now
            await anyio.sleep(0.05)
            assert holding == 2
            release.set()
    assert most == 2


async def test_cancelled_waiter_does_not_leak_a_slot():
    budget = ConnectionBudget(1)
    with anyio.fail_after(5):
        async with budget.slot(), anyio.create_task_group() as tg:

            async def waiter() -> None:
                async with budget.slot():
                    pass

            tg.start_soon(waiter)
            await anyio.sleep(0.02)
            tg.cancel_scope.cancel()
        assert budget.in_use == 0
        async with budget.slot():
            assert budget.in_use == 1
    assert budget.in_use == 0


async def test_slot_is_released_when_the_body_fails():
    budget = ConnectionBudget(1)
    with pytest.raises(RuntimeError), anyio.fail_after(5):
        async with budget.slot():
            raise RuntimeError("transfer broke")
    assert budget.in_use == 0
    finished, _ = await crowd(budget, 3)
    assert finished == 3


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_invalid_limits(bad):
    with pytest.raises(ConfigError):
        ConnectionBudget(bad)


async def test_wakeup_of_a_cancelled_waiter_passes_to_the_next():
    budget = ConnectionBudget(1)
    done: list[str] = []
    first_scope = anyio.CancelScope()

    async def waiter(name: str) -> None:
        async with budget.slot():
            done.append(name)

    async def first() -> None:
        with first_scope:
            await waiter("first")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg, budget.slot():
            tg.start_soon(first)
            await anyio.sleep(0.02)
            tg.start_soon(waiter, "second")
            await anyio.sleep(0.02)
            # the first waiter is cancelled in the same step its wake-up arrives
            first_scope.cancel()
    assert done == ["second"]
    assert budget.in_use == 0
