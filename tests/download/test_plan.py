"""Download planning: DataFrames, entity dicts and bare references become jobs (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from phidown_async.download.intake import Intake
from phidown_async.download.plan import plan_jobs, plan_products

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "cdse"
CATALOGUE = "https://catalogue.dataspace.copernicus.eu/odata/v1"


@pytest.fixture
def page() -> list[dict]:
    return json.loads((FIXTURES / "s1-catalogue-odata_page_1.json").read_text())["value"]


def test_dataframe_rows_become_jobs_with_url_paths_size_and_checksums(page, tmp_path):
    frame = pd.DataFrame(page)
    jobs = plan_jobs(frame.to_dict("records"), tmp_path, catalogue_url=CATALOGUE)

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


def test_jobs_keep_the_input_position_of_their_first_record(page, tmp_path):
    first, second = page[0], page[1]
    intake = Intake(records=[(0, first), (2, second), (3, first)])
    planned, rejected = plan_products(intake, tmp_path, catalogue_url=CATALOGUE)

    assert [(index, job.id) for index, job in planned] == [(0, first["Id"]), (2, second["Id"])]
    assert rejected == []
