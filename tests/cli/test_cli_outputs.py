"""``search --json``, ``--out -``, ``--format``: the tidy view for scripts, and back to download."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import geopandas
import pandas as pd
import pytest
import shapely
from conftest import BURSTS, PRODUCTS, CliRun, cli_program
from test_cli_download import assert_verified

from phidown_async.sandbox import Sandbox


def ids(cli: CliRun, *search: str) -> list[str]:
    result = cli("search", *search, "--json")
    assert result.exit_code == 0, result.output
    return [row["Id"] for row in json.loads(result.stdout)]


def test_json_prints_the_tidy_results(cli: CliRun) -> None:
    result = cli("search", *PRODUCTS, "--limit", "3", "--json")

    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 3
    first = rows[0]
    assert first["start"].endswith("Z") and first["platform"].startswith("SENTINEL-1")
    assert first["geometry"]["type"] == "Polygon"
    assert {c["Algorithm"] for c in first["Checksum"]} >= {"MD5"}
    assert "Attributes" not in first and "ContentDate" not in first


def test_json_count_is_an_object(cli: CliRun) -> None:
    plain = cli("search", *PRODUCTS, "--count")
    result = cli("search", *PRODUCTS, "--count", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"count": int(plain.stdout)}


@pytest.mark.parametrize("kind", ["csv", "json", "geojson"])
def test_out_dash_writes_parseable_results_to_stdout(cli: CliRun, kind: str) -> None:
    expected = ids(cli, *PRODUCTS, "--limit", "4")

    result = cli("search", *PRODUCTS, "--limit", "4", "--out", "-", "--format", kind)

    assert result.exit_code == 0, result.output
    if kind == "csv":
        table = pd.read_csv(io.StringIO(result.stdout))
        found = table["Id"].tolist()
        assert all(isinstance(g, shapely.Polygon) for g in shapely.from_wkt(table["geometry"]))
        assert isinstance(json.loads(table["Checksum"].iloc[0]), list)
    elif kind == "json":
        found = [row["Id"] for row in json.loads(result.stdout)]
    else:
        collection = json.loads(result.stdout)
        assert collection["type"] == "FeatureCollection"
        assert collection["features"][0]["geometry"]["type"] == "Polygon"
        found = [f["properties"]["Id"] for f in collection["features"]]
    assert found == expected
    assert not Path("-").exists()  # stdout, not a file named "-"


def test_out_dash_defaults_to_csv(cli: CliRun) -> None:
    result = cli("search", *PRODUCTS, "--limit", "2", "--out", "-")

    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0].split(",")
    assert header[:4] == ["Id", "Name", "start", "end"]
    assert len(pd.read_csv(io.StringIO(result.stdout))) == 2


def test_format_overrides_the_extension(cli: CliRun) -> None:
    result = cli("search", *PRODUCTS, "--limit", "2", "--out", "found.txt", "--format", "csv")

    assert result.exit_code == 0, result.output
    assert len(pd.read_csv("found.txt")) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "-", "--format", "parquet"], "cannot go to stdout"),
        (["--format", "json"], "--format names the format of --out"),
        (["--out", "x.csv", "--format", "xml"], "--format xml: choose one of"),
        (["--out", "-", "--json"], "--json and --out - both write to stdout"),
    ],
)
def test_output_misuse_is_a_usage_error(cli: CliRun, args: list[str], message: str) -> None:
    result = cli("search", *PRODUCTS, *args)

    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_geoparquet_from_search_is_geoparquet_and_downloads(cli: CliRun) -> None:
    result = cli("search", *PRODUCTS, "--limit", "2", "--out", "two.parquet", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"saved": "two.parquet", "format": "parquet", "products": 2}
    frame = geopandas.read_parquet("two.parquet")
    assert frame.crs.to_epsg() == 4326
    assert frame.geometry.geom_type.tolist() == ["Polygon", "Polygon"]
    assert str(frame["start"].dtype) == "datetime64[ns, UTC]"
    done = cli("download", "two.parquet", "--out-dir", "data")
    assert done.exit_code == 0, done.output
    assert "All 2 items verified." in done.stdout
    assert_verified(Path("data"), Path("two.parquet"))


def test_bursts_saved_as_geoparquet_are_downloaded_as_bursts(cli: CliRun) -> None:
    saved = cli("search", *BURSTS, "--polarisation", "VV", "--limit", "2", "--out", "b.parquet")
    assert saved.exit_code == 0, saved.output

    done = cli("download", "b.parquet", "--out-dir", "bursts")

    assert done.exit_code == 0, done.output
    assert "All 2 items verified." in done.stdout
    assert len(list(Path("bursts").glob("*.tiff"))) + len(list(Path("bursts").glob("*.zip"))) == 2


def test_the_program_writes_only_results_to_stdout(
    sandbox: Sandbox, env: dict[str, str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [*cli_program(), "search", *PRODUCTS, "--limit", "3", "--out", "-", "-f", "geojson"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["features"]) == 3


def test_geoparquet_without_geopandas_names_the_extra_before_searching(
    cli: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "geopandas", None)  # as if it were not installed

    result = cli("search", *PRODUCTS, "--out", "found.parquet")

    assert result.exit_code == 2
    assert "pip install 'phidown_async[geo]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not Path("found.parquet").exists()
