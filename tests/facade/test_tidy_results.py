"""CopernicusDataSearcher.tidy_results: the analysis view beside phidown's raw frame."""

from __future__ import annotations

import geopandas
import pytest

from phidown_async.facade import CopernicusDataSearcher
from phidown_async.sandbox import Sandbox


@pytest.fixture
def env(small_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in small_sandbox.env.items():
        monkeypatch.setenv(key, value)


@pytest.mark.reads_only
def test_tidy_results_searches_once_and_leaves_the_raw_frame(env: None) -> None:
    searcher = CopernicusDataSearcher(
        collection_name="SENTINEL-1", start_date="2024-01-01", end_date="2024-12-31"
    )

    view = searcher.tidy_results()

    raw = searcher.df
    assert raw is not None and len(raw) > 0
    assert "ContentDate" in raw.columns and "start" not in raw.columns  # phidown's shape
    assert isinstance(view, geopandas.GeoDataFrame)
    assert view["Id"].tolist() == raw["Id"].tolist()
    assert str(view["start"].dtype) == "datetime64[ns, UTC]"
    assert searcher.tidy_results(raw.head(2))["Id"].tolist() == raw["Id"].head(2).tolist()
