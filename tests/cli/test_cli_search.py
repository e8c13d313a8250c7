"""``phidown-async search``: counts, tables, result files in every format, usage errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pandas as pd
import pytest
import typer
from conftest import AOI, BURSTS, PRODUCTS, CliRun

from phidown_async import Search, Session, validate_search
from phidown_async.catalogue.tidy import tidy, utc_times
from phidown_async.cli.options import load_aoi, parse_attributes
from phidown_async.cli.results import read_results, records
from phidown_async.sandbox import Sandbox

# What download needs, and tidy columns of each type (text, integer, boolean).
COMPARED = (
    "Id",
    "Name",
    "ContentLength",
    "S3Path",
    "Checksum",
    "platform",
    "relative_orbit",
    "online",
)


def catalogue_frame(sandbox: Sandbox) -> pd.DataFrame:
    """The products of the test search, straight from the engine."""
    params = validate_search(
        collection_name="SENTINEL-1", aoi_wkt=AOI, start_date="2024-01-01", end_date="2024-12-31"
    )

    async def fetch() -> pd.DataFrame:
        async with Session(sandbox.endpoints) as session:
            return await Search(session, params).frame()

    return anyio.run(fetch)


def comparable(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: row.get(k) for k in COMPARED} for row in records(df)]


def test_count_prints_the_number_of_matches(cli: CliRun, sandbox: Sandbox) -> None:
    result = cli("search", *PRODUCTS, "--count")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(len(catalogue_frame(sandbox)))


@pytest.mark.parametrize("suffix", [".csv", ".json", ".geojson", ".parquet"])
def test_result_files_round_trip(cli: CliRun, sandbox: Sandbox, suffix: str) -> None:
    expected = catalogue_frame(sandbox)
    result = cli("search", *PRODUCTS, "--out", f"found{suffix}")

    assert result.exit_code == 0, result.output
    assert f"Saved {len(expected)} products" in result.stdout
    back = read_results(Path(f"found{suffix}"))
    view = tidy(expected)
    assert comparable(back) == comparable(view)
    assert back["coverage"].round(6).tolist() == expected["coverage"].round(6).tolist()
    assert utc_times(back["start"]).tolist() == view["start"].tolist()


def test_geojson_keeps_footprints_as_geometries(cli: CliRun) -> None:
    assert cli("search", *PRODUCTS, "--limit", "3", "--out", "found.geojson").exit_code == 0

    collection = json.loads(Path("found.geojson").read_text())
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == 3
    first = collection["features"][0]
    assert first["geometry"]["type"] == "Polygon"
    assert first["properties"]["Name"].endswith(".SAFE")
    assert first["properties"]["platform"].startswith("SENTINEL-1")
    assert first["properties"]["start"].endswith("Z")


def test_table_shows_the_first_results(cli: CliRun, sandbox: Sandbox) -> None:
    expected = catalogue_frame(sandbox).head(3)
    result = cli("search", *PRODUCTS, "--limit", "3")

    assert result.exit_code == 0, result.output
    assert "3 products" in result.stdout
    # Names may be folded over two lines in an 80-column table; their dates may not.
    for start in expected["ContentDate"].map(lambda d: d["Start"][:16].replace("T", " ")):
        assert start in result.stdout


def test_limit_returns_that_many_bursts(cli: CliRun) -> None:
    result = cli("search", *BURSTS, "--polarisation", "VV", "--limit", "7", "--out", "b.json")

    assert result.exit_code == 0, result.output
    bursts = read_results(Path("b.json"))
    assert len(bursts) == 7
    assert set(bursts["polarisation"]) == {"VV"}
    assert bursts["BurstId"].notna().all()


def test_aoi_from_a_geojson_file_matches_the_wkt(cli: CliRun, tmp_path: Path) -> None:
    feature = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[10.5, 45.2], [11.5, 45.2], [11.5, 45.8], [10.5, 45.8], [10.5, 45.2]]
                    ],
                },
            }
        ],
    }
    (tmp_path / "aoi.geojson").write_text(json.dumps(feature))
    by_wkt = cli("search", *PRODUCTS, "--count")
    by_file = cli(
        "search",
        "-c",
        "SENTINEL-1",
        "--aoi",
        "aoi.geojson",
        "--start",
        "2024-01-01",
        "--end",
        "2024-12-31",
        "--count",
    )

    assert by_file.exit_code == 0, by_file.output
    assert by_file.stdout == by_wkt.stdout


def test_invalid_parameter_is_a_usage_error(cli: CliRun) -> None:
    result = cli("search", "-c", "SENTINEL-9", "--count")

    assert result.exit_code == 2
    assert "'SENTINEL-9' is not a collection" in result.stderr
    assert "Traceback" not in result.output


def test_burst_field_without_burst_mode_is_a_usage_error(cli: CliRun) -> None:
    result = cli("search", "--swath", "IW2", "--count")

    assert result.exit_code == 2
    assert "add --burst-mode to use them: --swath" in result.stderr


def test_unknown_output_format_is_a_usage_error(cli: CliRun) -> None:
    result = cli("search", *PRODUCTS, "--out", "found.txt")

    assert result.exit_code == 2
    assert "unknown result format .txt" in result.stderr
    assert not Path("found.txt").exists()


def test_attributes_become_numbers_or_text() -> None:
    assert parse_attributes(["orbitNumber=123", "ratio=2.5", "productClass=S", "x=nan"]) == {
        "orbitNumber": 123,
        "ratio": 2.5,
        "productClass": "S",
        "x": "nan",
    }
    with pytest.raises(typer.BadParameter):
        parse_attributes(["no-equals-sign"])


def test_aoi_text_is_kept_and_a_bad_file_is_refused(tmp_path: Path) -> None:
    assert load_aoi(AOI) == AOI
    broken = tmp_path / "broken.geojson"
    broken.write_text("{not json")
    with pytest.raises(typer.BadParameter, match="not JSON"):
        load_aoi(str(broken))
    collection = tmp_path / "mixed.geojson"
    collection.write_text(json.dumps({"type": "GeometryCollection", "geometries": []}))
    with pytest.raises(typer.BadParameter, match="no geometry"):
        load_aoi(str(collection))
