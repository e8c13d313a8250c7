"""What a run may never use stays out of start-up: the TOML, INI and XML parsers load
when an accounts file, a .s5cfg or a manifest needs them."""

import subprocess
import sys


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_parsers_load_only_when_a_file_needs_them() -> None:
    done = _python(
        "import sys, phidown_async.download\n"
        "print(sorted(m for m in ('tomllib', 'configparser', 'xml.etree.ElementTree')"
        " if m in sys.modules))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
