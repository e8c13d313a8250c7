"""Optional stacks stay out of a library import; a missing extra is one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import import_module

import pytest

from phidown_async.errors import ConfigError, MissingExtraError
from phidown_async.extras import EXTRAS, needs

# pandas itself loads pyarrow when it is there: only these stacks must stay out.
SERVERS_AND_S3 = sorted({m for x in ("sandbox", "s3", "sandbox-s3") for m in EXTRAS[x]})


def _python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter (imports of this process do not leak into it)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def _without(*modules: str) -> str:
    """Code that makes importing each of ``modules`` fail, as if it were not installed."""
    return "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)


def test_a_library_import_loads_no_optional_stack():
    code = (
        "import sys, phidown_async\n"
        "from phidown_async import CopernicusDataSearcher, Search, Session\n"
        "from phidown_async import download_products, download_bursts\n"
        "from phidown_async.download.transports import choose_transport\n"
        "from phidown_async.sandbox import SandboxConfig\n"
        "import phidown_async.cli\n"
        f"print(sorted(m for m in {SERVERS_AND_S3!r} if m in sys.modules))\n"
    )
    ran = _python(code)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "extra, module, purpose",
    [("geo", "geopandas", "GeoParquet output"), ("s3", "aiobotocore", "S3 downloads")],
)
def test_a_missing_module_of_an_extra_names_the_extra(monkeypatch, extra, module, purpose):
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(MissingExtraError) as caught, needs(extra, purpose):
        import_module(module)
    assert str(caught.value) == (
        f"{purpose} needs the '{extra}' extra ({module} is not installed): "
        f"pip install 'phidown_async[{extra}]'"
    )
    assert caught.value.extra == extra
    assert isinstance(caught.value, ConfigError)


def test_other_import_errors_pass_unchanged(monkeypatch):
    monkeypatch.setitem(sys.modules, "geopandas", None)
    with pytest.raises(ImportError) as caught, needs("sandbox", "The sandbox"):
        import_module("geopandas")
    assert not isinstance(caught.value, MissingExtraError)


def test_the_s3_downloader_without_the_s3_extra():
    ran = _python(_without("aiobotocore") + "from phidown_async import download_products_s3\n")
    assert ran.returncode == 1
    assert "MissingExtraError: S3 downloads needs the 's3' extra (aiobotocore is not " in ran.stderr
    assert "pip install 'phidown_async[s3]'" in ran.stderr


def _cli(missing: str, *args: str, env: dict[str, str] | None = None):
    code = _without(missing) + f"from phidown_async.cli import main\nsys.argv = {['x', *args]!r}\n"
    return _python(code + "main()\n", env)


@pytest.mark.parametrize(
    "command, missing, extra",
    [
        ("sandbox", "starlette", "sandbox"),
        ("sandbox --tls", "trustme", "sandbox"),
        ("demo", "trustme", "sandbox"),
        ("demo", "uvicorn", "sandbox"),
        ("demo", "matplotlib", "plot"),
    ],
)
def test_sandbox_and_demo_without_their_extra_print_one_line(tmp_path, command, missing, extra):
    args = command.split() if command != "demo" else [command, "--out-dir", str(tmp_path / "d")]
    ran = _cli(missing, *args)
    assert ran.returncode == 2
    assert "Traceback" not in ran.stderr
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    assert f"({missing} is not installed): pip install 'phidown_async[{extra}]'" in lines[0]
    assert ran.stdout == ""  # nothing started


def test_download_over_s3_without_the_s3_extra_prints_one_line(tmp_path):
    env = {
        "CDSE_S3_ACCESS_KEY": "key",
        "CDSE_S3_SECRET_KEY": "secret",
        # Nothing listens there: the error must come before any request.
        "PHIDOWN_CATALOGUE_URL": "http://127.0.0.1:9/odata/v1",
        "PHIDOWN_S3_ENDPOINT": "http://127.0.0.1:9",
    }
    ran = _cli("aiohttp", "download", "S1A_X", "--transport", "s3", "-o", str(tmp_path), env=env)
    assert ran.returncode == 2
    assert "Traceback" not in ran.stderr
    assert ran.stderr.strip().splitlines()[-1].endswith("pip install 'phidown_async[s3]'")
