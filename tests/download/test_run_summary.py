"""RunSummary.raise_for_failures: failures as one TransferError, on request."""

from __future__ import annotations

import pytest

from phidown_async import ItemResult, RunSummary, TransferError


def summary(*results: ItemResult) -> RunSummary:
    return RunSummary(results, seconds=1.0)


def failed(n: int) -> ItemResult:
    return ItemResult(f"id-{n}", f"S1A_{n}", "failed", reason=f"reason {n}", attempts=3)


def test_nothing_happens_when_no_item_failed():
    ok = summary(
        ItemResult("a", "A", "downloaded"), ItemResult("b", "B", "skipped", reason="there")
    )
    assert ok.raise_for_failures() is None
    assert summary().raise_for_failures() is None


def test_the_error_names_each_failure_and_carries_the_results():
    done = ItemResult("a", "A", "downloaded")
    run = summary(done, failed(1), failed(2))
    with pytest.raises(TransferError) as info:
        run.raise_for_failures()
    message = str(info.value)
    assert message.startswith("2 of 3 items failed:")
    assert "S1A_1: reason 1" in message and "S1A_2: reason 2" in message
    assert "more" not in message
    assert info.value.failures == (failed(1), failed(2))


def test_a_long_list_names_the_first_few_then_how_many_more():
    run = summary(*(failed(n) for n in range(8)))
    with pytest.raises(TransferError) as info:
        run.raise_for_failures(listed=3)
    message = str(info.value)
    assert "S1A_2: reason 2" in message
    assert "S1A_3" not in message
    assert message.endswith("and 5 more")
    assert len(info.value.failures) == 8


def test_an_unnamed_failure_is_named_by_its_id():
    run = summary(ItemResult("id-9", "", "failed"))
    with pytest.raises(TransferError, match="id-9: no reason given"):
        run.raise_for_failures()
