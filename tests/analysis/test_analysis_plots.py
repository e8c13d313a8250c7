"""plot_temporal_distribution writes a real PNG, headless, without blocking."""

from __future__ import annotations

import sys

import pandas as pd
import pytest

from phidown_async.analysis import (
    NoAcquisitionsError,
    make_temporal_figure,
    plot_temporal_distribution,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def frame(*starts: str) -> pd.DataFrame:
    return pd.DataFrame({"ContentDate": [{"Start": s} for s in starts]})


DATES = frame(
    "2024-08-01T10:00:00Z",
    "2024-08-04T10:00:00.000Z",
    "2024-09-16T10:00:00.000000Z",
    "2025-01-22T10:00:00+00:00",
)


@pytest.fixture
def pyplot():
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    yield plt
    for number in set(plt.get_fignums()) - before:
        plt.close(number)


def test_png_is_written_and_its_path_returned(tmp_path, pyplot):
    target = tmp_path / "plot.png"
    open_before = len(pyplot.get_fignums())
    path = plot_temporal_distribution(DATES, output_path=target, show=False, figsize=(8, 6))
    assert path == str(target)
    data = target.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 1000
    # The figure is not left open in memory.
    assert len(pyplot.get_fignums()) == open_before


def test_show_does_not_block_headless(tmp_path, monkeypatch, pyplot):
    monkeypatch.delenv("DISPLAY", raising=False)
    path = plot_temporal_distribution(DATES, output_path=tmp_path / "shown.png", show=True)
    assert (tmp_path / "shown.png").read_bytes()[:8] == PNG_MAGIC
    assert path == str(tmp_path / "shown.png")


def test_default_file_name_in_current_directory(tmp_path, monkeypatch, pyplot):
    monkeypatch.chdir(tmp_path)
    path = plot_temporal_distribution(DATES, show=False)
    assert path.startswith("temporal_distribution_")
    assert path.endswith(".png")
    assert (tmp_path / path).read_bytes()[:8] == PNG_MAGIC


def test_figure_has_the_four_panels(pyplot):
    fig = make_temporal_figure(DATES, figsize=(8, 6))
    assert [ax.get_title() for ax in fig.axes] == [
        "Acquisition Timeline",
        "Distribution of Temporal Gaps",
        "Acquisitions by Month",
        "Cumulative Acquisition Count",
    ]
    histogram = fig.axes[1]
    labels = [text.get_text() for text in histogram.get_legend().get_texts()]
    assert labels == ["Mean: 58.0 days", "Median: 43.0 days"]
    monthly = fig.axes[2]
    assert [round(bar.get_height()) for bar in monthly.patches] == [2, 1, 1]


def test_single_acquisition_gives_no_plot(tmp_path, pyplot):
    target = tmp_path / "one.png"
    assert plot_temporal_distribution(frame("2024-08-01T10:00:00Z"), target, show=False) is None
    assert not target.exists()


def test_empty_frame_is_a_clear_error(tmp_path):
    with pytest.raises(NoAcquisitionsError, match="empty"):
        plot_temporal_distribution(pd.DataFrame(), tmp_path / "x.png", show=False)


def test_missing_matplotlib_names_the_extra(monkeypatch, tmp_path):
    # A None entry makes `import matplotlib` fail as if it were not installed.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install phidown_async\[plot\]"):
        plot_temporal_distribution(DATES, tmp_path / "x.png", show=False)
