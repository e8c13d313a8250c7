"""Fixtures of the engine tests (the fakes live in engine_fakes.py)."""

from __future__ import annotations

import pytest
from engine_fakes import FakeClock, FakeNet


@pytest.fixture
def net() -> FakeNet:
    return FakeNet()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
