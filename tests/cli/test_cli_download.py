"""``phidown-async download`` in-process: inputs, verification, exit codes, messages."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from conftest import BURSTS, PRODUCTS, CliRun

from phidown_async.cli.results import read_results
from phidown_async.sandbox import Sandbox


def saved(cli: CliRun, name: str, *search: str) -> Path:
    result = cli("search", *search, "--out", name)
    assert result.exit_code == 0, result.output
    return Path(name)


def assert_verified(folder: Path, results: Path) -> None:
    """Every product of ``results`` is in ``folder`` with the catalogue's size and MD5."""
    for row in read_results(results).to_dict("records"):
        target = folder / f"{row['Name']}.zip"
        data = target.read_bytes()
        assert len(data) == row["ContentLength"]
        md5 = next(c["Value"] for c in row["Checksum"] if c["Algorithm"] == "MD5")
        assert hashlib.md5(data).hexdigest() == md5
    assert not list(folder.glob("*.part"))


@pytest.mark.parametrize("suffix", [".csv", ".json", ".geojson", ".parquet"])
def test_download_from_a_result_file(cli: CliRun, suffix: str) -> None:
    results = saved(cli, f"two{suffix}", *PRODUCTS, "--limit", "2")

    result = cli("download", str(results), "--out-dir", "data")

    assert result.exit_code == 0, result.output
    assert "All 2 items verified." in result.stdout
    assert_verified(Path("data"), results)


def test_plain_log_lines_when_not_a_terminal(cli: CliRun) -> None:
    results = saved(cli, "three.json", *PRODUCTS, "--limit", "3")

    result = cli("download", str(results), "-o", "data")

    assert result.exit_code == 0, result.output
    assert "\x1b[" not in result.stdout
    names = read_results(results)["Name"].tolist()
    for name in names:
        assert re.search(
            rf"^\d\d:\d\d:\d\d \[\d/3\] verified {re.escape(name)} ", result.stdout, re.MULTILINE
        ), result.stdout
    assert "Download summary" in result.stdout
    assert re.search(r"downloaded and verified\s*│\s*3\s*│", result.stdout)


def test_second_run_skips_what_is_verified(cli: CliRun) -> None:
    results = saved(cli, "two.csv", *PRODUCTS, "--limit", "2")
    assert cli("download", str(results), "-o", "data").exit_code == 0

    again = cli("download", str(results), "-o", "data")

    assert again.exit_code == 0, again.output
    assert again.stdout.count("skipped") == 2
    assert re.search(r"already there \(verified\)\s*│\s*2\s*│", again.stdout)
    assert re.search(r"received\s*│\s*0 B\s*│", again.stdout)


def test_every_verification_level_ends_verified(cli: CliRun) -> None:
    results = saved(cli, "one.json", *PRODUCTS, "--limit", "1")
    for level in ("full", "none", "default"):
        result = cli("download", str(results), "-o", level, "--verify", level)
        assert result.exit_code == 0, result.output
        assert_verified(Path(level), results)


def test_names_and_ids_are_looked_up(cli: CliRun, sandbox: Sandbox) -> None:
    results = saved(cli, "two.json", *PRODUCTS, "--limit", "2")
    rows = read_results(results).to_dict("records")

    result = cli("download", rows[0]["Name"], rows[1]["Id"], "-o", "data")

    assert result.exit_code == 0, result.output
    assert_verified(Path("data"), results)


def test_some_failed_exits_1_and_lists_each_reason(cli: CliRun) -> None:
    results = saved(cli, "one.json", *PRODUCTS, "--limit", "1")
    name = read_results(results)["Name"][0]

    result = cli("download", name, "S1A_NO_SUCH_PRODUCT.SAFE", "-o", "data")

    assert result.exit_code == 1
    assert "Not downloaded" in result.stdout
    assert "no product named 'S1A_NO_SUCH_PRODUCT.SAFE' in the catalogue" in result.stdout
    assert "1 of 2 items were not downloaded" in result.stdout
    assert (Path("data") / f"{name}.zip").is_file()


def test_bursts_are_detected_from_the_file(cli: CliRun) -> None:
    results = saved(cli, "bursts.json", *BURSTS, "--limit", "4")

    result = cli("download", str(results), "-o", "bursts")

    assert result.exit_code == 0, result.output
    assert "Downloading 4 bursts" in result.stdout
    zips = sorted(Path("bursts").glob("*.zip"))
    assert len(zips) == 4
    assert all(z.stat().st_size > 0 for z in zips)


def test_search_options_download_directly(cli: CliRun) -> None:
    result = cli("download", *BURSTS, "--polarisation", "VH", "--limit", "3", "-o", "vh")

    assert result.exit_code == 0, result.output
    assert "Downloading 3 bursts" in result.stdout
    assert len(list(Path("vh").glob("*_VH_*.zip"))) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to download"),
        (["x.json", "-c", "SENTINEL-1"], "not both"),
        (["missing.csv"], "no such file: missing.csv"),
        (["--burst-mode", "--limit", "1", "--transport", "s3"], "--transport s3 is for products"),
        (["--transport", "ftp", "x.json"], "ftp"),
        (["--verify", "deep", "x.json"], "deep"),
        (["--workers", "0", "x.json"], "--workers"),
        (["S1A_X.SAFE", "--transport", "s3"], "No S3 keys found: put them in .s5cfg"),
    ],
)
def test_bad_usage_exits_2(cli: CliRun, args: list[str], message: str) -> None:
    result = cli("download", *args)

    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_missing_credentials_say_where_to_put_them(cli: CliRun, env: dict[str, str]) -> None:
    results = saved(cli, "one.json", *PRODUCTS, "--limit", "1")
    anonymous = {k: v for k, v in env.items() if not k.startswith("CDSE_")}

    result = cli("download", str(results), "-o", "data", environment=anonymous)

    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "set CDSE_USERNAME and CDSE_PASSWORD" in message
    assert "~/.netrc" in message
    assert "Traceback" not in result.output
    assert not Path("data").exists() or not list(Path("data").glob("*.zip"))


def test_s3_transport_fetches_safe_folders(
    cli: CliRun, env: dict[str, str], tmp_path: Path
) -> None:
    from phidown_async.sandbox import SandboxConfig

    config = SandboxConfig(seed=3, products=20, product_size=16 * 1024, s3=True, s3_products=2)
    with Sandbox(config) as s3_sandbox:
        items = s3_sandbox.archive.products[:2]
        names = [item["Name"] for item in items]
        s3_env = {**env, **s3_sandbox.env}
        result = cli(
            "download",
            *[item["Id"] for item in items],
            "--transport",
            "s3",
            "-o",
            "safe",
            environment=s3_env,
        )

    assert result.exit_code == 0, result.output
    for name in names:
        folder = tmp_path / "safe" / name
        assert folder.is_dir()
        assert any(folder.rglob("manifest.safe")) or any(folder.rglob("xfdumanifest.xml"))


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ([], "(HTTPS with the CDSE account, the default; --transport s3 for SAFE folders)"),
        (["--transport", "https"], "(HTTPS with the CDSE account, as asked)"),
    ],
)
def test_the_header_says_why_https_even_with_s3_keys_at_hand(
    cli: CliRun, env: dict[str, str], args: list[str], why: str
) -> None:
    # S3 keys of CDSE's own kind are there; the command still fetches zips unless told.
    Path(".s5cfg").write_text("[default]\naws_access_key_id = k\naws_secret_access_key = s\n")
    results = saved(cli, "one.json", *PRODUCTS, "--limit", "1")
    keys = {"CDSE_S3_ACCESS_KEY": "k", "CDSE_S3_SECRET_KEY": "s"}

    result = cli("download", str(results), "-o", "data", *args, environment={**env, **keys})

    assert result.exit_code == 0, result.output
    assert f"Downloading 1 products over HTTPS to data {why}" in result.stdout
    assert len(list(Path("data").glob("*.zip"))) == 1
