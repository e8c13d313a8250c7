"""LoggingSink turns events into records; progress_sink picks a display or the log."""

from __future__ import annotations

import io
import logging

import pytest

from phidown_async import LoggingSink, progress_sink
from phidown_async.cli.progress import RunProgress
from phidown_async.events import (
    BytesReceived,
    ItemFailed,
    ItemStarted,
    ItemVerified,
    QuotaChanged,
    RetryScheduled,
)


def test_events_become_records_at_their_levels(caplog: pytest.LogCaptureFixture) -> None:
    sink = LoggingSink()
    caplog.set_level(logging.INFO, logger="phidown_async")

    sink(ItemStarted("id-1", "S1A_PRODUCT", 1000))
    sink(BytesReceived("id-1", 500))  # DEBUG: below the level, no record
    sink(RetryScheduled("id-1", 1, 2.0, "CDSE answered 503"))
    sink(ItemVerified("id-1", "/data/S1A_PRODUCT.zip", 1000))
    sink(ItemFailed("id-2", "not found", 1))
    sink(QuotaChanged("", 3, "429"))

    records = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert records == [
        ("phidown_async.events", logging.INFO, "started S1A_PRODUCT (1000 bytes)"),
        (
            "phidown_async.events",
            logging.WARNING,
            "retrying S1A_PRODUCT in 2.0 s (try 1): CDSE answered 503",
        ),
        (
            "phidown_async.events",
            logging.INFO,
            "verified S1A_PRODUCT (1000 bytes) at /data/S1A_PRODUCT.zip",
        ),
        ("phidown_async.events", logging.ERROR, "failed id-2 after 1 tries: not found"),
        ("phidown_async.events", logging.WARNING, "connections now 3: 429"),
    ]
    assert isinstance(caplog.records[0].event, ItemStarted)


def test_bytes_are_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="phidown_async")

    LoggingSink()(BytesReceived("id-1", 500))

    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.DEBUG, "id-1: received 500 bytes")
    ]


def test_the_library_configures_no_handler() -> None:
    assert logging.getLogger("phidown_async.events").handlers == []


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_sink_logs_when_not_on_a_terminal() -> None:
    with progress_sink(2, stream=io.StringIO()) as sink:
        assert isinstance(sink, LoggingSink)


def test_progress_sink_draws_on_a_terminal() -> None:
    with progress_sink(2, names={"id-1": "S1A_PRODUCT"}, stream=_Terminal()) as sink:
        assert isinstance(sink, RunProgress)
        sink(ItemStarted("id-1", "S1A_PRODUCT", 1000))
        sink(ItemVerified("id-1", "/data/S1A_PRODUCT.zip", 1000))
        assert sink.snapshot().done == 1
