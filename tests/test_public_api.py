"""Every name of ``phidown_async.__all__`` resolves, and ``dir()`` lists it."""

from __future__ import annotations

import importlib

import pytest

import phidown_async


def test_all_is_sorted_and_unique():
    assert phidown_async.__all__ == sorted(set(phidown_async.__all__))


@pytest.mark.parametrize("name", phidown_async.__all__)
def test_every_public_name_resolves(name: str):
    value = getattr(phidown_async, name)
    assert value is not None
    assert name in dir(phidown_async)


def test_the_types_users_annotate_with_are_the_engines_own():
    results = importlib.import_module("phidown_async.download.results")
    events = importlib.import_module("phidown_async.events")
    assert phidown_async.RunSummary is results.RunSummary
    assert phidown_async.ItemResult is results.ItemResult
    assert phidown_async.EventSink is events.EventSink
    assert issubclass(phidown_async.ItemFailed, phidown_async.Event)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = phidown_async.nope
