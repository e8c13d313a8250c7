"""FirstErrorGroup: the first error cancels the rest and comes out bare, not in a group."""

from __future__ import annotations

import anyio
import pytest

from phidown_async.concurrency import FirstErrorGroup


class Boom(Exception):
    pass


async def test_a_tasks_error_is_raised_as_itself_after_the_others_were_cancelled():
    cancelled: list[str] = []

    async def sleeper() -> None:
        try:
            await anyio.sleep(10)
        except anyio.get_cancelled_exc_class():
            cancelled.append("sleeper")
            raise

    async def failing() -> None:
        await anyio.sleep(0)
        raise Boom("task")

    with anyio.fail_after(5), pytest.raises(Boom, match="task") as info:
        async with FirstErrorGroup() as group:
            group.start_soon(sleeper)
            group.start_soon(failing)
    assert type(info.value) is Boom
    assert cancelled == ["sleeper"]
    assert group.error is info.value


async def test_a_body_error_is_raised_as_itself_after_the_tasks_were_cancelled():
    cancelled: list[str] = []

    async def sleeper() -> None:
        try:
            await anyio.sleep(10)
        except anyio.get_cancelled_exc_class():
            cancelled.append("sleeper")
            raise

    with anyio.fail_after(5), pytest.raises(Boom, match="body") as info:
        async with FirstErrorGroup() as group:
            group.start_soon(sleeper)
            await anyio.sleep(0)
            raise Boom("body")
    assert type(info.value) is Boom
    assert cancelled == ["sleeper"]


async def test_of_two_failing_tasks_the_first_error_is_raised():
    async def failing(delay: float, message: str) -> None:
        await anyio.sleep(delay)
        raise Boom(message)

    async def failing_on_cancel() -> None:
        try:
            await anyio.sleep(10)
        except anyio.get_cancelled_exc_class():
            # An error while being cancelled comes second and must not replace the first.
            raise Boom("second") from None

    with anyio.fail_after(5), pytest.raises(Boom, match="first"):
        async with FirstErrorGroup() as group:
            group.start_soon(failing_on_cancel)
            group.start_soon(failing, 0.01, "first")
            group.start_soon(failing, 5, "late")


async def test_cancellation_from_outside_passes_through():
    finished: list[str] = []
    with anyio.move_on_after(0.05) as outer:
        async with FirstErrorGroup() as group:
            group.start_soon(anyio.sleep, 10)
            await anyio.sleep(10)
        finished.append("block")
    assert outer.cancelled_caught
    assert finished == []
    assert group.error is None


async def test_cancelling_its_own_scope_ends_the_block_without_an_error():
    async with FirstErrorGroup() as group:
        group.start_soon(anyio.sleep, 10)
        group.cancel_scope.cancel()
    assert group.error is None


async def test_without_errors_every_task_finishes():
    done: list[int] = []

    async def work(n: int) -> None:
        await anyio.sleep(0.001 * n)
        done.append(n)

    async with FirstErrorGroup() as group:
        for n in range(5):
            group.start_soon(work, n)
    assert sorted(done) == [0, 1, 2, 3, 4]
    assert group.error is None
