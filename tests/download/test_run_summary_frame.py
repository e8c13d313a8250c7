"""RunSummary.to_frame: one typed row per ItemResult, in input order."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from phidown_async import ItemResult, RunSummary


def test_one_typed_row_per_result_in_input_order() -> None:
    run = RunSummary(
        (
            ItemResult(
                "b", "B", "downloaded", path=Path("/d/B.zip"), attempts=1, bytes=10, size=10
            ),
            ItemResult("a", "A", "failed", reason="404", attempts=3, permanent=True),
            ItemResult("c", "C", "skipped", notes=("checksum ignored", "second note")),
        ),
        seconds=2.0,
    )

    df = run.to_frame()

    assert df["id"].tolist() == ["b", "a", "c"]
    assert df["status"].dtype == pd.CategoricalDtype(["downloaded", "skipped", "failed"])
    assert df["status"].value_counts().to_dict() == {"downloaded": 1, "skipped": 1, "failed": 1}
    assert str(df["attempts"].dtype) == "int64" and str(df["bytes"].dtype) == "int64"
    assert str(df["size"].dtype) == "Int64"
    assert df["size"].isna().tolist() == [False, True, True]
    assert df["permanent"].dtype == bool and df["permanent"].tolist() == [False, True, False]
    assert df["path"].tolist()[0] == str(Path("/d/B.zip")) and pd.isna(df["path"].iloc[1])
    assert df["notes"].iloc[2] == "checksum ignored; second note" and pd.isna(df["notes"].iloc[0])
    assert df["reason"].iloc[1] == "404"


def test_an_empty_run_has_the_columns() -> None:
    df = RunSummary((), seconds=0.0).to_frame()

    assert len(df) == 0
    assert list(df.columns) == [
        "id",
        "name",
        "status",
        "path",
        "reason",
        "attempts",
        "bytes",
        "size",
        "checksum",
        "notes",
        "permanent",
        "account",
    ]
