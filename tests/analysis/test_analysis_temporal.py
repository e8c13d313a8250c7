"""compute_temporal_statistics: hand-computed gaps, spans and counts."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from phidown_async.analysis import NoAcquisitionsError, compute_temporal_statistics

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "cdse"


def frame(*starts: str) -> pd.DataFrame:
    return pd.DataFrame({"ContentDate": [{"Start": s, "End": s} for s in starts]})


def test_known_dates_give_hand_computed_statistics():
    # Gaps 3, 43 and 128 days; written in four different CDSE layouts, out of order.
    df = frame(
        "2024-09-16T10:00:00.000000Z",
        "2024-08-01T10:00:00Z",
        "2025-01-22T10:00:00+00:00",
        "2024-08-04T10:00:00.000Z",
    )
    stats = compute_temporal_statistics(df)
    std = stats["temporal_gaps"].pop("std_days")
    assert stats == {
        "total_acquisitions": 4,
        "date_range": {
            "start": "2024-08-01T10:00:00+00:00",
            "end": "2025-01-22T10:00:00+00:00",
            "span_days": 174,
        },
        "temporal_gaps": {
            "min_days": 3.0,
            "max_days": 128.0,
            "mean_days": 58.0,
            "median_days": 43.0,
        },
        "acquisitions_by_month": {"2024-08": 2, "2024-09": 1, "2025-01": 1},
        "acquisitions_by_year": {2024: 3, 2025: 1},
    }
    # Sample std of 3, 43, 128: sqrt(((55)^2 + (15)^2 + (70)^2) / 2) = sqrt(4075).
    assert std == pytest.approx(4075**0.5)


def test_fractional_days_from_origin_date_fallback():
    df = pd.DataFrame({"OriginDate": ["2024-01-01T00:00:00Z", "2024-01-03T12:00:00.000Z"]})
    stats = compute_temporal_statistics(df)
    assert stats["temporal_gaps"] == {
        "min_days": 2.5,
        "max_days": 2.5,
        "mean_days": 2.5,
        "median_days": 2.5,
        "std_days": 0.0,
    }
    assert stats["date_range"]["span_days"] == 2


def test_single_acquisition_counts_its_month_and_year():
    stats = compute_temporal_statistics(frame("2024-08-02T06:07:19.614235Z"))
    assert stats == {
        "total_acquisitions": 1,
        "date_range": {
            "start": "2024-08-02T06:07:19.614235+00:00",
            "end": "2024-08-02T06:07:19.614235+00:00",
            "span_days": 0,
        },
        "temporal_gaps": None,
        "acquisitions_by_month": {"2024-08": 1},
        "acquisitions_by_year": {2024: 1},
    }


def test_duplicates_count_and_unparsable_rows_are_left_out():
    df = frame("2024-08-01T10:00:00Z", "2024-08-01T10:00:00.000Z", "not a date")
    stats = compute_temporal_statistics(df)
    assert stats["total_acquisitions"] == 2
    assert stats["temporal_gaps"]["max_days"] == 0.0


def test_content_date_given_as_json_or_python_text():
    df = pd.DataFrame(
        {
            "ContentDate": [
                json.dumps({"Start": "2024-08-01T00:00:00Z"}),
                str({"Start": "2024-08-11T00:00:00Z"}),
            ]
        }
    )
    assert compute_temporal_statistics(df)["temporal_gaps"]["mean_days"] == 10.0


@pytest.mark.parametrize(
    ("df", "message"),
    [
        (None, "result frame is empty"),
        (pd.DataFrame(), "result frame is empty"),
        (pd.DataFrame({"Name": ["x"]}), "No date column found in results"),
        (frame("garbage", "also garbage"), "none of the 2 rows has a parsable date"),
    ],
)
def test_nothing_to_analyse_is_a_clear_value_error(df, message):
    with pytest.raises(NoAcquisitionsError, match=message) as caught:
        compute_temporal_statistics(df)
    assert isinstance(caught.value, ValueError)


def test_recorded_cdse_pages():
    items = []
    for page in sorted(FIXTURES.glob("s1-catalogue-odata_page_*.json")):
        items.extend(json.loads(page.read_text())["value"])
    starts = sorted(
        dt.datetime.fromisoformat(item["ContentDate"]["Start"].replace("Z", "+00:00"))
        for item in items
    )
    stats = compute_temporal_statistics(pd.DataFrame(items))
    assert stats["total_acquisitions"] == len(items)
    assert stats["date_range"]["start"] == starts[0].isoformat()
    assert stats["date_range"]["end"] == starts[-1].isoformat()
    assert sum(stats["acquisitions_by_month"].values()) == len(items)
    assert stats["acquisitions_by_year"] == {2014: len(items)}
