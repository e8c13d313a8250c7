"""phidown's documented download examples, run unchanged against the sandbox."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from phidown_async import CopernicusDataSearcher, TokenManager, download_burst_on_demand, get_token
from phidown_async.sandbox import Sandbox, SandboxConfig

# The credentials phidown's examples are written with; the sandbox accepts exactly these.
USER, PASSWORD = "user@example.com", "password"
SMALL = dict(products=40, seed=21, product_size=24 * 1024, burst_size=4 * 1024)


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(
        SandboxConfig(username=USER, password=PASSWORD, s3=True, s3_products=None, **SMALL)
    ) as running:
        yield running


@pytest.fixture
def env(sandbox, monkeypatch, tmp_path):
    for key, value in sandbox.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # no stray .s5cfg; relative output dirs land here
    return sandbox


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_token_manager_example(env):
    token_mgr = TokenManager("user@example.com", "password")
    token = token_mgr.get_access_token()
    # Token is automatically refreshed when expired
    assert token_mgr.get_access_token() == token


def test_get_token_example(env):
    token = get_token(USER, PASSWORD)
    assert isinstance(token, str) and token


def test_download_products_example_over_https(env, monkeypatch):
    monkeypatch.delenv("CDSE_S3_ACCESS_KEY")
    monkeypatch.delenv("CDSE_S3_SECRET_KEY")
    searcher = CopernicusDataSearcher()
    searcher.query_by_filter(collection_name="SENTINEL-1", product_type="SLC", top=3)
    df = searcher.execute_query()
    result = searcher.download_products(df=df, output_dir="./data")
    assert (result["downloaded"], result["failed"], result["transport"]) == (3, 0, "https")
    for detail, product_id in zip(result["details"], df["Id"], strict=True):
        assert detail["status"] == "success"
        served = env.archive.product_zip(product_id)
        assert _md5(Path(detail["path"])) == _md5(served)
    again = searcher.download_products(df=df, output_dir="./data", verbose=False)
    assert (again["downloaded"], again["skipped"]) == (0, 3)


def test_unrelated_aws_keys_do_not_turn_the_facade_to_s3(env, monkeypatch, capsys):
    # A sandbox without S3 exports no S3 keys; AWS keys left from other work stay unused.
    with Sandbox(SandboxConfig(username=USER, password=PASSWORD, **SMALL)) as plain:
        for key in ("CDSE_S3_ACCESS_KEY", "CDSE_S3_SECRET_KEY"):
            monkeypatch.delenv(key)
        for key, value in plain.env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "someone-elses-key")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "someone-elses-secret")
        searcher = CopernicusDataSearcher(collection_name="SENTINEL-1", top=2)
        df = searcher.execute_query()
        result = searcher.download_products(df=df, output_dir="./plain")
    assert (result["downloaded"], result["failed"], result["transport"]) == (2, 0, "https")
    printed = capsys.readouterr().out
    assert "over HTTPS (no CDSE S3 keys" in printed
    assert "AWS_ACCESS_KEY_ID is not taken for CDSE" in printed
    assert "someone-elses" not in printed


def test_download_products_uses_s3_when_keys_are_available(env):
    searcher = CopernicusDataSearcher(collection_name="SENTINEL-2", top=2)
    df = searcher.execute_query()
    result = searcher.download_products(df=df, output_dir="./safe", verbose=False)
    assert result["transport"] == "s3"
    assert result["downloaded"] == 2, result["details"]
    for name in df["Name"]:
        assert (Path("safe") / name / "manifest.safe").is_file()


def test_download_product_by_name(env, monkeypatch):
    monkeypatch.delenv("CDSE_S3_ACCESS_KEY")
    monkeypatch.delenv("CDSE_S3_SECRET_KEY")
    searcher = CopernicusDataSearcher(collection_name="SENTINEL-2", top=1)
    name = searcher.execute_query()["Name"].iloc[0]
    assert searcher.download_product(name, "out", verbose=False) is True
    assert zipfile.is_zipfile(searcher.last_download_path)
    assert searcher.download_product("S2X_NOT_THERE.SAFE", "out") is False


def test_download_bursts_example(env):
    searcher = CopernicusDataSearcher()
    searcher.query_by_filter(burst_mode=True, swath_identifier="IW1", top=6)
    df = searcher.execute_query()
    result = searcher.download_bursts(
        df=df, output_dir="./bursts", username="user@example.com", password="password"
    )
    assert (result["downloaded"], result["failed"]) == (6, 0)
    assert {d["burst_num"] for d in result["details"]} == set(df["BurstId"])
    zips = sorted(Path("bursts").glob("*.zip"))
    assert len(zips) == 6 and all(zipfile.ZipFile(z).testzip() is None for z in zips)


def test_download_bursts_needs_credentials(env, monkeypatch):
    monkeypatch.delenv("CDSE_USERNAME")
    monkeypatch.delenv("CDSE_PASSWORD")
    monkeypatch.setenv("HOME", str(Path.cwd()))  # no ~/.netrc either
    searcher = CopernicusDataSearcher()
    searcher.query_by_filter(burst_mode=True, swath_identifier="IW1", top=1)
    df = searcher.execute_query()
    with pytest.raises(ValueError, match="username and password are required"):
        searcher.download_bursts(df=df, output_dir="./bursts")
    assert searcher.download_bursts(df=df.iloc[0:0])["downloaded"] == 0


def test_download_burst_on_demand_example(env):
    burst_id = env.archive.bursts[0]["Id"]
    token_mgr = TokenManager("user@example.com", "password")
    download_burst_on_demand(burst_id, token_mgr, Path("./output"))
    assert len(list(Path("output").glob("*.zip"))) == 1
    download_burst_on_demand(burst_id, token_mgr.get_access_token(), Path("./output2"))
    assert len(list(Path("output2").glob("*.zip"))) == 1
    with pytest.raises(ValueError, match="Burst ID is not a valid UUID!"):
        download_burst_on_demand("12345", token_mgr, Path("./output"))
    with pytest.raises(RuntimeError, match="Failed to process burst"):
        download_burst_on_demand(burst_id, "not-a-token", Path("./output3"))
