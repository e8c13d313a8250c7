"""The tidy view: typed columns from real catalogue pages, bursts, GeoParquet round trips."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import anyio
import geopandas
import pandas as pd
import pytest
import shapely

from phidown_async import Search, Session, validate_search
from phidown_async.analysis.dates import acquisition_times
from phidown_async.catalogue.frame import to_frame
from phidown_async.catalogue.tidy import snake_case, tidy
from phidown_async.cli.results import ResultFileError, read_results, write_results
from phidown_async.download.plan import plan_jobs
from phidown_async.sandbox import Sandbox

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "cdse"
SQUARE = {"type": "Polygon", "coordinates": [[[10, 45], [12, 45], [12, 46], [10, 46], [10, 45]]]}
HALF = "geography'SRID=4326;POLYGON ((10 45, 11 45, 11 46, 10 46, 10 45))'"
UTC = "datetime64[ns, UTC]"


def attribute(name: str, value: Any, value_type: str) -> dict[str, Any]:
    return {"Name": name, "Value": value, "ValueType": value_type}


def real_entities() -> list[dict[str, Any]]:
    """The five recorded pages of a real CDSE search, with footprints and S1 attributes
    added to the first two (the recorded AUX products have neither)."""
    entities = [
        entity
        for number in range(1, 6)
        for entity in json.loads((FIXTURES / f"s1-catalogue-odata_page_{number}.json").read_text())[
            "value"
        ]
    ]
    entities[0]["GeoFootprint"] = SQUARE
    entities[1]["Footprint"] = HALF
    entities[0]["Attributes"] += [
        attribute("orbitDirection", "ASCENDING", "String"),
        attribute("relativeOrbitNumber", 117, "Integer"),
        attribute("polarisationChannels", "VV&VH", "String"),
        attribute("cloudCover", 12.5, "Double"),
        attribute("sliceProductFlag", True, "Boolean"),
    ]
    return entities


BURST = {
    "Id": "2a387616-6946-41af-a151-1f490bada03c",
    "Name": "S1A-SLC-20240930T163448-374016-IW3-VV-448009",
    "S3Path": "/eodata/Sentinel-1/SAR/IW_SLC__1S/2024/09/30/x.SAFE/measurement/x.tiff",
    "ContentDate": {"Start": "2024-09-30T16:34:48.650435Z", "End": "2024-09-30T16:34:51.78Z"},
    "GeoFootprint": SQUARE,
    "ParentProductId": "eda4d3e7-7632-41ea-9de7-1ce719634c16",
    "ParentProductName": "S1A_IW_SLC__1SDV_20240930T163431_20240930T163500_055897_06D609_C544.SAFE",
    "BurstId": 374016,
    "AzimuthTime": "2024-09-30T16:34:47.512830Z",
    "ParentProductType": "IW_SLC__1S",
    "SwathIdentifier": "IW3",
    "RelativeOrbitNumber": 175,
    "OrbitDirection": "ASCENDING",
    "PlatformSerialIdentifier": "A",
    "PolarisationChannels": "VV",
    "DatatakeID": 448009,
    "BeginningDateTime": "2024-09-30T16:34:48.650435Z",
}


def test_products_get_utc_times_a_geometry_and_typed_attributes() -> None:
    entities = real_entities()
    view = tidy(to_frame(entities))

    assert isinstance(view, geopandas.GeoDataFrame)
    assert view.crs.to_epsg() == 4326
    assert view.geometry.dtype.name == "geometry"
    assert str(view["start"].dtype) == UTC and str(view["end"].dtype) == UTC
    assert view["start"].tolist() == [
        pd.Timestamp(e["ContentDate"]["Start"]).tz_convert("UTC") for e in entities
    ]
    assert str(view["processing_date"].dtype) == UTC  # a DateTimeOffset attribute
    assert view["eviction_date"].isna().all()  # 9999-12-31: beyond pandas, "never"
    assert str(view["ContentLength"].dtype) == "Int64"
    assert str(view["online"].dtype) == "boolean"
    assert str(view["relative_orbit"].dtype) == "Int64"
    assert str(view["cloud_cover"].dtype) == "float64"
    assert str(view["slice_product_flag"].dtype) == "boolean"
    first = view.iloc[0]
    assert first["platform"] == "SENTINEL-1A"
    assert (first["orbit_direction"], first["relative_orbit"]) == ("ASCENDING", 117)
    assert (first["polarisation"], first["cloud_cover"]) == ("VV&VH", 12.5)
    assert first["geometry"].equals(shapely.box(10, 45, 12, 46))
    assert view.iloc[1]["geometry"].equals(shapely.box(10, 45, 11, 46))
    assert view.iloc[2]["geometry"] is None
    assert pd.isna(view.iloc[1]["relative_orbit"])
    for gone in ("ContentDate", "GeoFootprint", "Footprint", "Attributes", "OriginDate"):
        assert gone not in view.columns
    assert view["Id"].tolist() == [e["Id"] for e in entities]
    assert view["Checksum"].tolist() == [e["Checksum"] for e in entities]


def test_bursts_get_the_same_names_and_keep_their_keys() -> None:
    view = tidy(to_frame([BURST]))
    row = view.iloc[0]

    assert str(view["start"].dtype) == UTC and str(view["azimuth_time"].dtype) == UTC
    assert row["platform"] == "SENTINEL-1A"
    assert (row["product_type"], row["swath"], row["polarisation"]) == ("IW_SLC__1S", "IW3", "VV")
    assert (row["orbit_direction"], row["relative_orbit"]) == ("ASCENDING", 175)
    assert (row["BurstId"], row["ParentProductId"]) == (374016, BURST["ParentProductId"])
    assert row["datatake_id"] == 448009
    assert "beginning_date_time" not in view.columns  # the same as start


def test_the_raw_frame_is_left_as_it_was() -> None:
    raw = to_frame(real_entities())
    before = copy.deepcopy(raw.to_dict("records"))

    tidy(raw)

    assert raw.to_dict("records") == before


def test_without_geopandas_it_is_a_dataframe_of_shapely_geometries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "geopandas", None)  # import geopandas fails

    view = tidy(to_frame(real_entities()))

    assert type(view) is pd.DataFrame
    assert isinstance(view["geometry"].iloc[0], shapely.Polygon)
    assert str(view["start"].dtype) == UTC


def test_geoparquet_without_geopandas_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    view = tidy(to_frame(real_entities()))
    monkeypatch.setitem(sys.modules, "geopandas", None)

    with pytest.raises(ResultFileError, match=r"pip install 'phidown_async\[geo\]'"):
        write_results(view, tmp_path / "x.parquet")


def test_an_empty_result_has_the_typed_columns() -> None:
    view = tidy(pd.DataFrame())

    assert len(view) == 0
    assert str(view["start"].dtype) == UTC
    assert view.geometry.dtype.name == "geometry"


def test_geoparquet_round_trip_through_geopandas(tmp_path: Path) -> None:
    entities = real_entities()
    view = tidy(to_frame(entities))

    written = write_results(view, tmp_path / "found.parquet")
    back = geopandas.read_parquet(written)

    assert back.crs.to_epsg() == 4326
    assert back.geometry.iloc[0].equals(view.geometry.iloc[0])
    assert back.geometry.iloc[2] is None
    assert str(back["start"].dtype) == UTC
    assert back["start"].tolist() == view["start"].tolist()
    assert back["relative_orbit"].tolist()[:2] == [117, pd.NA]
    # The same file feeds a download: every checksum comes back.
    jobs = plan_jobs(read_results(written).to_dict("records"), tmp_path, catalogue_url="x")
    assert [job.checksums["MD5"] for job in jobs] == [
        next(c["Value"] for c in e["Checksum"] if c["Algorithm"] == "MD5") for e in entities
    ]


@pytest.mark.parametrize("writer", ["to_parquet", "to_file"])
def test_files_geopandas_writes_from_the_view_feed_a_download(tmp_path: Path, writer: str) -> None:
    entities = real_entities()
    target = tmp_path / ("own.parquet" if writer == "to_parquet" else "own.geojson")
    getattr(tidy(to_frame(entities)), writer)(target)

    rows = read_results(target).to_dict("records")

    assert [row["Checksum"] for row in rows] == [e["Checksum"] for e in entities]
    jobs = plan_jobs(rows, tmp_path, catalogue_url="x")
    assert [job.size for job in jobs] == [e["ContentLength"] or None for e in entities]


def test_acquisition_times_read_a_saved_view(tmp_path: Path) -> None:
    entities = real_entities()
    written = write_results(tidy(to_frame(entities)), tmp_path / "found.csv")

    times = acquisition_times(read_results(written))

    assert times.tolist() == sorted(pd.Timestamp(e["ContentDate"]["Start"]) for e in entities)


def test_names_are_snake_case() -> None:
    assert snake_case("relativeOrbitNumber") == "relative_orbit_number"
    assert snake_case("DatatakeID") == "datatake_id"
    assert snake_case("@odata.mediaContentType") == "odata_media_content_type"


@pytest.mark.reads_only
def test_a_search_gives_its_tidy_view(small_sandbox: Sandbox) -> None:
    params = validate_search(collection_name="SENTINEL-1", start_date="2024-01-01")

    async def both() -> tuple[pd.DataFrame, pd.DataFrame]:
        async with Session(small_sandbox.endpoints) as session:
            search = Search(session, params)
            return await search.frame(), await search.tidy()

    frame, view = anyio.run(both)

    assert len(frame) > 0
    assert view["Id"].tolist() == frame["Id"].tolist()
    assert view.geometry.notna().all()
    assert view.attrs["incomplete"] is False
