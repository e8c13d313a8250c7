"""The Sandbox context manager and the ``phidown-async sandbox`` command."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import threading
from urllib.parse import urlsplit

import httpx
import pytest

from phidown_async.config import Credentials, Endpoints, S3Keys
from phidown_async.sandbox import Sandbox, SandboxConfig


def test_default_sandbox_starts_and_serves_both_origins():
    # The default archive (400 products) must start quickly: products materialise lazily.
    with Sandbox() as sandbox, httpx.Client(timeout=10) as client:
        endpoints = sandbox.endpoints
        catalogue, download = urlsplit(endpoints.catalogue_url), urlsplit(endpoints.download_url)

        assert catalogue.hostname == download.hostname == "127.0.0.1"
        assert catalogue.port != download.port
        assert client.get(endpoints.products_url, params={"$top": "1"}).status_code == 200
        assert len(sandbox.archive.products) == 400


@pytest.mark.reads_only
def test_env_points_the_program_at_the_sandbox(sandbox):
    env = sandbox.env

    assert Endpoints.from_env(env) == sandbox.endpoints
    assert Credentials.from_env(env, netrc_path="/nonexistent") == Credentials(
        sandbox.config.username, sandbox.config.password
    )
    assert S3Keys.from_env(env) is None  # S3 keys only from a sandbox that serves S3
    assert env["PHIDOWN_TOKEN_URL"].endswith("/auth/realms/CDSE/protocol/openid-connect/token")


@pytest.mark.reads_only
def test_s3_is_refused_clearly_when_disabled(sandbox, client):
    reply = client.get(f"{sandbox.s3_endpoint}/eodata/Sentinel-1/x")

    assert reply.status_code == 501
    assert b"<Code>NotImplemented</Code>" in reply.content


def test_update_changes_runtime_knobs_only(sandbox):
    assert sandbox.update(quota=2, bandwidth=3.0).max_connections == 2
    assert sandbox.config.bandwidth == 3.0

    with pytest.raises(ValueError, match="products"):
        sandbox.update(products=5)
    with pytest.raises(ValueError, match="range_mode"):
        sandbox.update(range_mode="sometimes")
    assert sandbox.config.range_mode == "honor"


def test_a_sandbox_that_is_not_running_has_no_endpoints():
    with pytest.raises(RuntimeError, match="not running"):
        _ = Sandbox(SandboxConfig(products=2)).endpoints


def test_closing_stops_serving(config):
    with Sandbox(config) as sandbox:
        url = sandbox.token_url

    with pytest.raises(httpx.ConnectError):
        httpx.post(url, data={}, timeout=2)


def test_unknown_paths_are_404_and_counted(sandbox, client):
    reply = client.get(sandbox.endpoints.download_url + "/Nothing")

    assert reply.status_code == 404
    assert sandbox.counters.requests("other", 404) == 1


async def test_usable_from_async_code(config):
    async with Sandbox(config) as sandbox, httpx.AsyncClient(timeout=10) as client:
        reply = await client.post(
            sandbox.token_url,
            data={
                "grant_type": "password",
                "username": config.username,
                "password": config.password,
                "client_id": "cdse-public",
            },
        )

        assert reply.status_code == 200
        assert sandbox.counters.snapshot()["token_grants"] == {"password": 1}


def _first_line(process: subprocess.Popen[str], seconds: float) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=seconds)
    return lines[0] if lines else ""


def test_cli_prints_one_json_line_and_serves_until_terminated(tmp_path):
    command = [
        sys.executable,
        "-c",
        "from phidown_async.cli import main; main()",
        "sandbox",
        "--products",
        "5",
        "--quota",
        "2",
        "--fault",
        "500=0",
        "--data-dir",
        str(tmp_path),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = _first_line(process, 30)
        info = json.loads(line)
        with httpx.Client(timeout=10) as client:
            grant = client.post(
                info["token_url"],
                data={
                    "grant_type": "password",
                    "username": info["username"],
                    "password": info["password"],
                    "client_id": "cdse-public",
                },
            )
            assert grant.status_code == 200
            listing = client.get(info["catalogue_url"] + "/Products", params={"$top": "1"})
            assert listing.status_code == 200
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)

    assert process.returncode == 0
    assert out == ""  # nothing after the one line
    assert info["env"]["PHIDOWN_CATALOGUE_URL"] == info["catalogue_url"]
    assert set(info["env"]) == {
        "PHIDOWN_CATALOGUE_URL",
        "PHIDOWN_DOWNLOAD_URL",
        "PHIDOWN_TOKEN_URL",
        "PHIDOWN_S3_ENDPOINT",
        "CDSE_USERNAME",
        "CDSE_PASSWORD",
    }  # no S3 keys: this sandbox does not serve S3


def test_cli_refuses_a_bad_fault_with_usage_exit_code():
    command = [
        sys.executable,
        "-c",
        "from phidown_async.cli import main; main()",
        "sandbox",
        "--fault",
        "meteor=0.5",
    ]

    result = subprocess.run(command, capture_output=True, text=True, timeout=30)

    assert result.returncode == 2
    assert "KIND=RATE" in result.stderr


def test_tls_serves_https_that_only_its_own_ca_vouches_for() -> None:
    with Sandbox(SandboxConfig(products=2, tls=True)) as sandbox:
        env = sandbox.env
        assert sandbox.endpoints.catalogue_url.startswith("https://127.0.0.1:")
        assert sandbox.endpoints.download_url.startswith("https://127.0.0.1:")
        assert env["SSL_CERT_FILE"] == str(sandbox.ca_file)
        url = f"{sandbox.endpoints.catalogue_url}/Products"
        trusted_ca = ssl.create_default_context(cafile=str(sandbox.ca_file))
        trusted = httpx.get(url, params={"$top": "1"}, verify=trusted_ca)
        assert trusted.status_code == 200 and len(trusted.json()["value"]) == 1
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(url, verify=True, trust_env=False)
