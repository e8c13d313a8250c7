"""The one retry loop: progress resets the count, throttling costs no try, the rest gives up."""

from __future__ import annotations

import errno

import httpx
import pytest

from phidown_async.download.tries import GaveUp, Refused, Retry, keep_trying
from phidown_async.errors import AuthError, NotFoundError, VerificationError
from phidown_async.events import EventLog, RetryScheduled
from phidown_async.retry import RetryableError, RetryableStatusError, RetryPolicy

POLICY = RetryPolicy(attempts=3, initial_delay=0.0, max_delay=0.0, jitter=0.0)


class Script:
    """Raises the scripted errors in turn, then returns "done"; counts calls."""

    def __init__(self, *errors: BaseException, moves: bool = False) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.moves = moves

    async def once(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"

    async def position(self) -> int:
        return self.calls if self.moves else 0


async def run(script: Script, log: EventLog | None = None) -> str:
    return await keep_trying(
        script.once, policy=POLICY, sink=log or EventLog(), item="x", position=script.position
    )


async def test_retryable_failures_are_retried_and_told():
    log = EventLog()
    script = Script(httpx.ReadError("cut"), Retry("error page"))
    assert await run(script, log) == "done"
    assert script.calls == 3
    assert [e.attempt for e in log.of(RetryScheduled)] == [1, 2]


async def test_out_of_tries_gives_up_with_the_last_reason():
    script = Script(*(httpx.ConnectError("refused") for _ in range(5)))
    with pytest.raises(GaveUp) as caught:
        await run(script)
    assert caught.value.tries == 3 and "ConnectError: refused" in caught.value.reason


async def test_a_try_that_moved_the_download_on_does_not_count():
    script = Script(*(httpx.ReadError("cut") for _ in range(6)), moves=True)
    assert await run(script) == "done"
    assert script.calls == 7


async def test_throttling_uses_up_no_try_but_is_bounded():
    script = Script(*(RetryableStatusError(429) for _ in range(5)))
    assert await run(script) == "done"
    endless = Script(*(RetryableError("SlowDown", throttled=True) for _ in range(50)))
    with pytest.raises(GaveUp):
        await run(endless)
    assert endless.calls == 12  # attempts x MAX_TRIES_FACTOR


@pytest.mark.parametrize(
    "error",
    [NotFoundError("gone", status=404), OSError(13, "Permission denied")],
)
async def test_what_another_try_cannot_fix_gives_up_at_once(error):
    script = Script(error)
    with pytest.raises(GaveUp) as caught:
        await run(script)
    assert script.calls == 1 and caught.value.tries == 1


async def test_a_verification_failure_is_retried():
    script = Script(VerificationError("x.zip: checksum mismatch"))
    assert await run(script) == "done" and script.calls == 2


@pytest.mark.parametrize(
    "error",
    [
        AuthError("refused", status=401),
        Refused("no"),
        KeyError("bug"),
        OSError(errno.ENOSPC, "No space left on device"),  # the disk, for every item
        OSError(errno.EDQUOT, "Disk quota exceeded"),
    ],
)
async def test_run_level_and_item_level_refusals_pass_through(error):
    with pytest.raises(type(error)):
        await run(Script(error))
