"""Search options in CLI terms: option names in messages, any case, real dates, inclusive end."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import AOI, CliRun

from phidown_async.cli.results import read_results
from phidown_async.cli.wording import in_cli_terms, inclusive_end
from phidown_async.errors import QueryError
from phidown_async.query.parameters import validate_search

PYTHON_NAMES = ("aoi_wkt", "start_date", "end_date", "burst_mode", "swath_identifier", "_")


def error_text(cli: CliRun, *args: str) -> str:
    result = cli("search", *args, "--count")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return " ".join(result.stderr.replace("│", " ").split())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--aoi", "POLYGON((1"], "--aoi must be valid WKT"),
        (["--swath", "IW1"], "add --burst-mode to use them: --swath"),
        (["--start", "2024-03-01", "--end", "2024-02-01"], "--start must not be later than --end"),
        (["--cloud-cover", "150"], "--cloud-cover must be between 0 and 100"),
        (["--burst-mode", "--swath", "XX"], "Invalid --swath: XX"),
        (["--start", "2024-13-01"], "--start: 2024-13-01 is an impossible date"),
        (["--end", "2024-02-30"], "--end: 2024-02-30 is an impossible date"),
        (["--start", "July 2024"], "--start: 'July 2024' is not a date; use ISO 8601"),
        (["-c", "SENTINEL-9"], "--collection: 'SENTINEL-9' is not a collection"),
    ],
)
def test_messages_name_the_options(cli: CliRun, args: list[str], expected: str) -> None:
    text = error_text(cli, *args)

    assert expected in text
    for name in PYTHON_NAMES[:-1]:
        assert name not in text
    assert "Invalid format" not in text


def test_a_wrong_product_type_lists_the_collections_types_only(cli: CliRun) -> None:
    text = error_text(cli, "-c", "SENTINEL-2", "-t", "SLC")

    assert "'SLC' is not a SENTINEL-2 product type" in text
    assert "S2MSI1C, S2MSI2A, S2MSI2B (or L1C, L2A, L2B)" in text
    assert "GRD" not in text and "OCN" not in text


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        (["-t", "slc"], ["-t", "SLC"]),
        (["-c", "sentinel-1", "-t", "iw_slc__1s"], ["-t", "IW_SLC__1S"]),
        (["--orbit-direction", "ascending"], ["--orbit-direction", "ASCENDING"]),
    ],
)
def test_choices_are_taken_in_any_case(cli: CliRun, given: list[str], canonical: list[str]) -> None:
    lower = cli("search", "--aoi", AOI, *given, "--count")
    upper = cli("search", "--aoi", AOI, *canonical, "--count")

    assert lower.exit_code == 0, lower.output
    assert lower.stdout == upper.stdout
    assert int(lower.stdout) > 0


def test_a_date_only_end_includes_that_whole_day(cli: CliRun) -> None:
    found = cli(
        "search", "--aoi", AOI, "--start", "2024-01-01", "--end", "2024-12-31", "-o", "a.json"
    )
    assert found.exit_code == 0, found.output
    # Saved results are the tidy view: acquisition starts in the UTC column "start".
    starts = [pd.Timestamp(start).isoformat() for start in read_results("a.json")["start"]]
    day = starts[0][:10]
    on_that_day = sum(1 for start in starts if start.startswith(day))

    one_day = cli("search", "--aoi", AOI, "--start", day, "--end", day, "--count")
    as_instant = cli("search", "--aoi", AOI, "--start", day, "--end", f"{day}T00:00", "--count")

    assert one_day.exit_code == 0, one_day.output
    assert int(one_day.stdout) == on_that_day > 0
    assert int(as_instant.stdout) == 0  # a date-time keeps phidown's exclusive end


def test_the_end_of_day_follows_each_modes_comparison() -> None:
    assert inclusive_end("2024-07-31", burst_mode=False) == "2024-08-01T00:00:00"
    assert inclusive_end("2024-12-31", burst_mode=False) == "2025-01-01T00:00:00"
    assert inclusive_end("2024-07-31", burst_mode=True) == "2024-07-31T23:59:59.999999"
    assert inclusive_end("2024-07-31T12:00", burst_mode=False) == "2024-07-31T12:00"


def test_the_library_keeps_phidowns_words_and_the_cli_rewrites_them() -> None:
    with pytest.raises(QueryError) as caught:
        validate_search(burst_id=3, relative_orbit_number=117)

    message = str(caught.value)
    assert "pass burst_mode=True" in message and "relative_orbit_number" in message
    assert in_cli_terms(message) == (
        "These options only apply to burst searches; add --burst-mode to use them: "
        "--burst-id, --relative-orbit"
    )
