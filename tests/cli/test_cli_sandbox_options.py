"""``phidown-async sandbox --env`` for a shell, and ``--product-size``."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import typer

from phidown_async.cli.sandbox import export_lines, parse_size

CLI = [sys.executable, "-c", "from phidown_async.cli import main; main()"]
VARIABLES = (
    "PHIDOWN_CATALOGUE_URL",
    "PHIDOWN_DOWNLOAD_URL",
    "PHIDOWN_TOKEN_URL",
    "PHIDOWN_S3_ENDPOINT",
    "CDSE_USERNAME",
    "CDSE_PASSWORD",
)


@contextmanager
def running_sandbox(*args: str, until: str) -> Iterator[list[str]]:
    """``phidown-async sandbox ARGS`` while it serves; yields its output up to the line that
    starts with ``until`` (within 60 s)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CDSE_", "PHIDOWN_"))}
    process = subprocess.Popen(
        [*CLI, "sandbox", "--products", "6", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    # A thread reads the output, so waiting for a line has a deadline.
    arrived: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in process.stdout or ():
            arrived.put(line)

    threading.Thread(target=read, daemon=True).start()
    lines: list[str] = []
    try:
        while not (lines and lines[-1].startswith(until)):
            try:
                lines.append(arrived.get(timeout=60))
            except queue.Empty:
                pytest.fail(f"no {until!r} line within 60 s: {lines}")
        yield lines
    finally:
        process.terminate()
        process.wait(timeout=30)


def _product_size(env: dict[str, str]) -> int:
    """The bytes the sandbox serves for its first product."""
    with httpx.Client(timeout=10) as client:
        found = client.get(f"{env['PHIDOWN_CATALOGUE_URL']}/Products", params={"$top": "1"}).json()[
            "value"
        ][0]
        token = client.post(
            env["PHIDOWN_TOKEN_URL"],
            data={
                "grant_type": "password",
                "client_id": "cdse-public",
                "username": env["CDSE_USERNAME"],
                "password": env["CDSE_PASSWORD"],
            },
        ).json()["access_token"]
        body = client.get(
            f"{env['PHIDOWN_DOWNLOAD_URL']}/Products({found['Id']})/$value",
            headers={"Authorization": f"Bearer {token}"},
            follow_redirects=True,
        ).content
    assert len(body) == found["ContentLength"]
    return len(body)


@pytest.mark.skipif(shutil.which("sh") is None, reason="needs a POSIX shell")
def test_env_lines_sourced_by_a_shell_point_at_the_sandbox(tmp_path: Path):
    with running_sandbox("--env", until="#") as lines:
        assert all(line.startswith("export ") for line in lines[:-1])
        script = tmp_path / "sandbox.env"
        script.write_text("".join(lines))
        shown = subprocess.run(
            [
                "sh",
                "-c",
                f'. "$1" && exec {sys.executable} -c "$2"',
                "sh",
                str(script),
                "import json, os; print(json.dumps(dict(os.environ)))",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": os.environ.get("PATH", "")},
        )
        assert shown.returncode == 0, shown.stderr
        env = json.loads(shown.stdout)
        assert set(VARIABLES) <= env.keys()
        assert env["PHIDOWN_CATALOGUE_URL"].startswith("http://127.0.0.1:")
        assert _product_size(env) > 0  # the variables reach a working sandbox


def test_export_lines_quote_values_for_the_shell(tmp_path: Path):
    tricky = {"A": 'it\'s $HOME `x` "q"', "B": "two words"}
    script = tmp_path / "vars.env"
    script.write_text(export_lines(tricky))
    shown = subprocess.run(
        ["sh", "-c", '. "$1" && printf "%s|%s" "$A" "$B"', "sh", str(script)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.stdout == f"{tricky['A']}|{tricky['B']}"


@pytest.mark.parametrize("size, payload", [("64KB", 64_000), ("200KiB", 200 << 10)])
def test_product_size_sets_the_size_of_the_products_served(size: str, payload: int):
    with running_sandbox("--product-size", size, until="{") as lines:
        served = _product_size(json.loads(lines[-1])["env"])
    # The zip is the payload plus the SAFE's small files (manifest, annotations: ~31 KiB);
    # the default payload is 256 KiB.
    assert payload < served < payload + (48 << 10)


@pytest.mark.parametrize(
    "text, size",
    [("65536", 65536), ("64MB", 64_000_000), ("1GiB", 1 << 30), ("1.5 kib", 1536), ("7b", 7)],
)
def test_sizes_parse(text: str, size: int):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "MB", "12 parsecs", "-5", "1e3"])
def test_bad_sizes_are_refused(text: str):
    with pytest.raises(typer.BadParameter, match="is not a size"):
        parse_size(text)


def test_a_size_of_nothing_is_bad_usage():
    ran = subprocess.run(
        [*CLI, "sandbox", "--product-size", "0"], capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 2
    assert "must be positive" in ran.stderr
