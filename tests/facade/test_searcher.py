"""The phidown-compatible CopernicusDataSearcher, run on the async core against the sandbox."""

from __future__ import annotations

import pytest

from phidown_async.facade import CopernicusDataSearcher
from phidown_async.sandbox import Sandbox, SandboxConfig


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxConfig(products=200, seed=11)) as running:
        yield running


@pytest.fixture
def env(sandbox, monkeypatch):
    for key, value in sandbox.env.items():
        monkeypatch.setenv(key, value)
    return sandbox


@pytest.fixture
def real_cdse_env(monkeypatch):
    for key in ("PHIDOWN_CATALOGUE_URL", "PHIDOWN_DOWNLOAD_URL", "PHIDOWN_TOKEN_URL"):
        monkeypatch.delenv(key, raising=False)


def test_defaults_build_phidowns_e1_url(real_cdse_env):
    searcher = CopernicusDataSearcher()
    searcher.query_by_filter()
    assert searcher._build_query() == (
        "https://catalogue.dataspace.copernicus.eu/odata/v1/Products?$filter="
        "(Collection/Name eq 'SENTINEL-1')&$orderby=ContentDate/Start desc&$top=1000"
        "&$expand=Attributes"
    )
    assert searcher.top == 1000 and searcher.order_by == "ContentDate/Start desc"


def test_bare_searcher_has_no_filter():
    with pytest.raises(ValueError, match="No valid filters provided"):
        CopernicusDataSearcher().execute_query()


def test_validation_errors_are_phidowns_and_leave_state_untouched():
    searcher = CopernicusDataSearcher(collection_name="SENTINEL-2", top=10)
    with pytest.raises(ValueError, match="Invalid collection name"):
        searcher.query_by_filter(collection_name="NOPE", top=20)
    assert searcher.collection_name == "SENTINEL-2" and searcher.top == 10


def test_count_true_fetches_every_page(env):
    searcher = CopernicusDataSearcher()
    searcher.query_by_filter(collection_name="SENTINEL-1", top=7, count=True)
    df = searcher.execute_query()
    assert searcher.num_results == len(df) > 7
    assert df["Id"].is_unique
    assert "coverage" in df.columns


def test_count_false_fetches_one_page(env):
    searcher = CopernicusDataSearcher(collection_name="SENTINEL-1", top=7)
    df = searcher.execute_query()
    assert len(df) == 7
    assert searcher.num_results == 0  # phidown: no $count asked, none reported


async def test_works_inside_a_running_event_loop(env):
    searcher = CopernicusDataSearcher(collection_name="SENTINEL-2", top=5)
    df = searcher.execute_query()  # synchronous call from a coroutine, as in a Jupyter cell
    assert len(df) == 5


def test_burst_mode_uses_the_bursts_of_the_same_root(env):
    root = env.endpoints.catalogue_url
    searcher = CopernicusDataSearcher()
    searcher.query_by_filter(
        base_url=f"{root}/Products", burst_mode=True, swath_identifier="IW2", top=10, count=True
    )
    assert searcher.base_url == f"{root}/Bursts"
    df = searcher.execute_query()
    assert len(df) > 0 and set(df["SwathIdentifier"]) == {"IW2"}


def test_name_queries(env):
    searcher = CopernicusDataSearcher(collection_name="SENTINEL-1", top=3)
    name = searcher.execute_query()["Name"].iloc[0]
    found = searcher.query_by_name(name)
    assert list(found["Name"]) == [name]
    assert searcher.query_by_name("S1X_DOES_NOT_EXIST.SAFE").empty
    prefix = name[:10]
    matches = searcher.search_products_by_name_pattern(prefix, "startswith", top=50)
    assert len(matches) > 0 and all(n.startswith(prefix) for n in matches["Name"])
    with pytest.raises(ValueError, match="Invalid match_type"):
        searcher.search_products_by_name_pattern(prefix, "regex")


def test_display_results_does_not_rewrite_the_frame(env):
    searcher = CopernicusDataSearcher(collection_name="SENTINEL-1", top=4)
    df = searcher.execute_query()
    before = list(df["OriginDate"])
    shown = searcher.display_results(top_n=2)
    assert len(shown) == 2 and "OriginDate" in shown.columns
    assert list(searcher.df["OriginDate"]) == before
    with pytest.raises(TypeError, match="Columns must be a list of strings"):
        searcher.display_results(columns="Name")


def test_find_optimal_orbit_leaves_the_query_as_it_was(env):
    searcher = CopernicusDataSearcher(collection_name="SENTINEL-1", product_type="SLC", top=5)
    df = searcher.execute_query()
    geo = df["GeoFootprint"].iloc[0]["coordinates"][0]
    lon = sum(p[0] for p in geo[:-1]) / (len(geo) - 1)
    lat = sum(p[1] for p in geo[:-1]) / (len(geo) - 1)
    result = searcher.find_optimal_orbit(
        aoi_wkt=f"POINT({lon} {lat})", start_date="2023-01-01", end_date="2026-01-01"
    )
    assert set(result) == {"ascending", "descending", "recommended"}
    assert result["recommended"]["expected_coverage"] > 0
    assert searcher.product_type == "SLC" and searcher.top == 5 and searcher.df is df


def _burst_point(sandbox) -> tuple[dict, str, str, str]:
    """A VV burst, a point inside its footprint, and a period around it."""
    burst = next(b for b in sandbox.archive.bursts if b["PolarisationChannels"] == "VV")
    ring = burst["GeoFootprint"]["coordinates"][0][:-1]
    lon = sum(p[0] for p in ring) / len(ring)
    lat = sum(p[1] for p in ring) / len(ring)
    day = burst["ContentDate"]["Start"][:10]
    return burst, f"POINT({lon} {lat})", f"{day}T00:00:00Z", f"{day}T23:59:59Z"


def test_find_optimal_bursts_and_temporal_tools(env, tmp_path):
    burst, aoi, start, end = _burst_point(env)
    searcher = CopernicusDataSearcher()
    bursts = searcher.find_optimal_bursts(
        aoi_wkt=aoi, start_date=start, end_date=end, orbit_direction=burst["OrbitDirection"]
    )
    assert burst["Id"] in set(bursts["Id"])
    assert {"coverage", "subswath_priority", "acquisition_date"} <= set(bursts.columns)
    assert list(bursts["coverage"]) == sorted(bursts["coverage"], reverse=True)
    assert searcher.df is None  # the planner left the searcher's own results alone

    searcher.query_by_filter(collection_name="SENTINEL-1", top=50, count=True)
    df = searcher.execute_query()
    stats = searcher.compute_temporal_statistics()
    assert stats["total_acquisitions"] == len(df)
    path = searcher.plot_temporal_distribution(output_path=str(tmp_path / "t.png"), show=False)
    assert path == str(tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
