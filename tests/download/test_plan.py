"""Download planning: DataFrames, entity dicts and bare references become jobs (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from phidown_async.download.plan import is_product_id, plan_jobs, select

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "cdse"
CATALOGUE = "https://catalogue.dataspace.copernicus.eu/odata/v1"


@pytest.fixture
def page() -> list[dict]:
    return json.loads((FIXTURES / "s1-catalogue-odata_page_1.json").read_text())["value"]


def test_dataframe_rows_become_jobs_with_url_paths_size_and_checksums(page, tmp_path):
    frame = pd.DataFrame(page)
    selection = select(frame)
    jobs = plan_jobs(selection.entities, tmp_path, catalogue_url=CATALOGUE)

    assert len(jobs) == len(page) == 10
    first, entity = jobs[0], page[0]
    assert first.id == entity["Id"]
    assert first.url == f"{CATALOGUE}/Products({entity['Id']})/$value"
    assert first.target == tmp_path / f"{entity['Name']}.zip"
    assert first.part == tmp_path / f"{entity['Name']}.zip.part"
    assert first.size == entity["ContentLength"]
    assert first.checksums == {
        "MD5": entity["Checksum"][0]["Value"],
        "BLAKE3": entity["Checksum"][1]["Value"],
    }
    assert all(job.kind == "product" and job.method == "GET" for job in jobs)


def test_duplicate_ids_are_planned_once(page, tmp_path):
    jobs = plan_jobs([*page[:3], page[1], page[0]], tmp_path, catalogue_url=CATALOGUE)
    assert [job.id for job in jobs] == [e["Id"] for e in page[:3]]


def test_unknown_size_and_missing_checksums_are_tolerated(tmp_path):
    entities = [
        {
            "Id": "11111111-2222-3333-4444-555555555555",
            "Name": "OLD.SAFE",
            "ContentLength": 0,
            "Checksum": [],
        },
        {
            "Id": "21111111-2222-3333-4444-555555555555",
            "Name": "NAN.SAFE",
            "ContentLength": float("nan"),
            "Checksum": float("nan"),
        },
    ]
    jobs = plan_jobs(entities, tmp_path, catalogue_url=CATALOGUE)
    assert [(job.size, dict(job.checksums)) for job in jobs] == [(None, {}), (None, {})]


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/evil.SAFE", "..", "a/../../b.SAFE"])
def test_hostile_names_stay_inside_the_output_dir(tmp_path, name):
    entity = {"Id": "31111111-2222-3333-4444-555555555555", "Name": name}
    [job] = plan_jobs([entity], tmp_path, catalogue_url=CATALOGUE)
    assert job.target.parent == tmp_path
    assert job.part.parent == tmp_path
    assert ".." not in job.target.name.split("/")


def test_two_ids_with_one_name_get_distinct_files(tmp_path):
    entities = [
        {"Id": "41111111-2222-3333-4444-555555555555", "Name": "SAME.SAFE"},
        {"Id": "51111111-2222-3333-4444-555555555555", "Name": "SAME.SAFE"},
    ]
    jobs = plan_jobs(entities, tmp_path, catalogue_url=CATALOGUE)
    assert len({job.target for job in jobs}) == 2


def test_select_sorts_ids_names_and_entities():
    uuid = "67360f3a-f36b-11ef-9d3f-0050561a7772"
    selection = select(
        [
            uuid,
            "S1A_IW_SLC__1SDV_X.SAFE",
            {"Name": "ONLY_NAME.SAFE"},
            {"Id": uuid, "Name": "X"},
            uuid,
            "  ",
        ]
    )
    assert selection.ids == (uuid,)
    assert selection.names == ("S1A_IW_SLC__1SDV_X.SAFE", "ONLY_NAME.SAFE")
    assert [e["Id"] for e in selection.entities] == [uuid]


def test_select_accepts_a_single_string_and_rejects_other_types():
    assert select("NAME.SAFE").names == ("NAME.SAFE",)
    with pytest.raises(TypeError, match="int"):
        select([42])
    with pytest.raises(ValueError, match="neither Id nor Name"):
        select([{"ContentLength": 3}])


def test_is_product_id():
    assert is_product_id("67360f3a-f36b-11ef-9d3f-0050561a7772")
    assert not is_product_id("S1A_IW_SLC__1SDV.SAFE")
    assert not is_product_id("67360f3a-f36b-11ef-9d3f")
