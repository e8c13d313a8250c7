"""What a run may never use stays out of start-up: httpx's command-line client (which
still works when called), the TOML, INI and XML parsers."""

import subprocess
import sys


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_importing_the_download_api_skips_httpxs_cli_modules() -> None:
    done = _python(
        "import sys, phidown_async.download\n"
        "print(sorted(m for m in ('click', 'pygments', 'rich.syntax') if m in sys.modules))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_httpx_main_still_runs_its_cli_after_phidown_async_is_imported() -> None:
    done = _python(
        "import sys, phidown_async.session, httpx\nsys.argv = ['httpx', '--help']\nhttpx.main()"
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: httpx <URL>" in done.stdout


def test_a_name_of_httpxs_cli_module_loads_the_real_module() -> None:
    done = _python(
        "import phidown_async.session, httpx\n"
        "from httpx._main import print_help\n"
        "print(print_help.__module__, httpx._main.__file__.endswith('_main.py'))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["httpx._main", "True"]


def test_parsers_load_only_when_a_file_needs_them() -> None:
    done = _python(
        "import sys, phidown_async.download\n"
        "print(sorted(m for m in ('tomllib', 'configparser', 'xml.etree.ElementTree')"
        " if m in sys.modules))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_real_cli_module_is_loaded_once_whatever_holds_the_stand_in() -> None:
    done = _python(
        "import sys, phidown_async.session, httpx\n"
        "stand_in = sys.modules['httpx._main']\n"
        "first = stand_in.print_help\n"
        "print(first is stand_in.print_help, first is sys.modules['httpx._main'].print_help)"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]
