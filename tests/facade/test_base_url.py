"""``searcher.base_url`` is read where phidown reads it; a Bursts base URL is taken as such.

Two sandboxes with different archives: the environment points at ``home``, the assigned
``base_url`` at ``other``; the counters of both say where each search went.
"""

from __future__ import annotations

import pytest

from phidown_async.facade import CopernicusDataSearcher
from phidown_async.sandbox import Sandbox, SandboxConfig


@pytest.fixture(scope="module")
def home():
    with Sandbox(SandboxConfig(products=40, seed=21)) as running:
        yield running


@pytest.fixture(scope="module")
def other():
    with Sandbox(SandboxConfig(products=40, seed=22)) as running:
        yield running


@pytest.fixture
def searcher(home, monkeypatch) -> CopernicusDataSearcher:
    for key, value in home.env.items():
        monkeypatch.setenv(key, value)
    return CopernicusDataSearcher(collection_name="SENTINEL-1", top=5)


def _searches(sandbox: Sandbox) -> int:
    return sandbox.counters.requests("search")


def _a_name(sandbox: Sandbox) -> str:
    searcher = CopernicusDataSearcher(collection_name="SENTINEL-1", top=1)
    searcher.base_url = f"{sandbox.endpoints.catalogue_url}/Products"
    return searcher.execute_query()["Name"].iloc[0]


def test_execute_query_goes_to_the_assigned_base_url(searcher, home, other):
    before = (_searches(home), _searches(other))
    searcher.base_url = f"{other.endpoints.catalogue_url}/Products"
    df = searcher.execute_query()
    assert (_searches(home), _searches(other)) == (before[0], before[1] + 1)
    assert len(df) == 5
    assert searcher.url.startswith(f"{other.endpoints.catalogue_url}/Products?")


def test_query_by_name_goes_to_the_assigned_base_url(searcher, home, other):
    name = _a_name(other)
    assert searcher.query_by_name(name).empty  # not in the home archive
    before = (_searches(home), _searches(other))
    searcher.base_url = f"{other.endpoints.catalogue_url}/Products"
    df = searcher.query_by_name(name)
    assert (_searches(home), _searches(other)) == (before[0], before[1] + 1)
    assert list(df["Name"]) == [name]


def test_name_pattern_search_goes_to_the_assigned_base_url(searcher, home, other):
    name = _a_name(other)
    before = (_searches(home), _searches(other))
    searcher.base_url = f"{other.endpoints.catalogue_url}/Products"
    df = searcher.search_products_by_name_pattern(name, "exact")
    assert (_searches(home), _searches(other)) == (before[0], before[1] + 1)
    assert list(df["Name"]) == [name]


def test_name_queries_after_a_burst_query_still_go_to_products(searcher, home):
    searcher.query_by_filter(burst_mode=True, swath_identifier="IW2", top=3)
    assert searcher.base_url.endswith("/Bursts")
    name = _a_name(home)
    assert list(searcher.query_by_name(name)["Name"]) == [name]


def test_a_bursts_base_url_is_taken_as_the_bursts_collection(searcher, home):
    bursts = f"{home.endpoints.catalogue_url}/Bursts"
    before = home.counters.requests("search", 404)
    searcher.query_by_filter(base_url=bursts, burst_mode=True, swath_identifier="IW2", top=3)
    assert searcher.base_url == bursts
    df = searcher.execute_query()
    assert searcher.url.startswith(f"{bursts}?$filter=")
    assert len(df) == 3 and set(df["SwathIdentifier"]) == {"IW2"}
    assert home.counters.requests("search", 404) == before
