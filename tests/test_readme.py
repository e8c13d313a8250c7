"""Every ```python and ```bash block of README.md runs, against the sandbox.

The examples are written for the real CDSE; here they run with the environment exactly as
``phidown-async sandbox`` prints it (``sandbox.env``: no S3 keys, since it does not serve S3,
so the facade picks HTTPS by itself), each block in the same scratch folder, in the order of
the page. Whatever the machine has set of ``CDSE_*``, ``AWS_*`` or ``PHIDOWN_*`` is removed
first: a user of the sandbox would not have it either.

Rules for bash blocks: every command line that starts with ``phidown-async`` runs through
the installed console script and must exit 0; one that pipes into another program
(``phidown-async search ... | head -1``) runs through bash with ``pipefail``, so the whole
pipeline must exit 0. Any other line must be a comment, an
``export`` (setup for the real CDSE, which the sandbox's variables replace here) or a
``make`` line. A block made only of ``make`` lines is not run: those are the project's own
entry points (``make test`` would run this test again, ``make demo`` is run by hand).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from phidown_async.sandbox import Sandbox

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[str, str]]:
    """``(language, code)`` of every python and bash block, in page order."""
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(README.read_text(encoding="utf-8"))]


def bash_lines(code: str) -> list[str]:
    """The logical lines of a bash block (backslash continuations joined), blanks dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [line.strip() for line in joined.splitlines() if line.strip()]


def is_make_only(code: str) -> bool:
    lines = [line for line in bash_lines(code) if not line.startswith("#")]
    return bool(lines) and all(line.startswith("make ") for line in lines)


def program() -> list[str]:
    script = Path(sys.executable).with_name("phidown-async")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from phidown_async.cli import main; main()"]


@pytest.fixture(scope="module")
def sandbox(cdse_sandbox: Sandbox) -> Sandbox:
    """The session's Po Valley sandbox (tests/conftest.py), shared with the CLI tests."""
    return cdse_sandbox


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readme")


@pytest.fixture(scope="module")
def env(sandbox: Sandbox, workdir: Path) -> dict[str, str]:
    values = {
        k: v for k, v in os.environ.items() if not k.startswith(("CDSE_", "AWS_", "PHIDOWN_"))
    }
    values.update(sandbox.env)
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    values["HOME"] = str(home)  # never the ~/.netrc of the machine running the tests
    values["MPLBACKEND"] = "Agg"
    return values


def test_readme_starts_with_the_two_commands() -> None:
    first_language, first_code = blocks()[0]

    assert first_language == "bash"
    assert [line.split()[:2] for line in bash_lines(first_code)] == [
        ["make", "demo"],
        ["make", "test"],
    ]


def test_every_bash_line_is_run_or_allowed() -> None:
    for language, code in blocks():
        if language != "bash" or is_make_only(code):
            continue
        lines = [line for line in bash_lines(code) if not line.startswith("#")]
        assert any(line.startswith("phidown-async ") for line in lines), code
        for line in lines:
            assert line.startswith(("phidown-async ", "export ", "make ")), line


@pytest.mark.timeout(600)  # every example of the page, each a process of its own
def test_readme_blocks_run_in_page_order(env: dict[str, str], workdir: Path) -> None:
    """One test, not one per block: blocks use files that earlier blocks made, so they must
    run in one process (and one folder) in page order, which pytest-xdist does not keep."""
    for index, (language, code) in enumerate(blocks()):
        if language == "python":
            run_python_block(index, code, env, workdir)
        elif not is_make_only(code):
            run_bash_block(index, code, env, workdir)


def run_python_block(index: int, code: str, env: dict[str, str], workdir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"block {index}:\n{code}\n{done.stdout}\n{done.stderr}"


def run_bash_block(index: int, code: str, env: dict[str, str], workdir: Path) -> None:
    for line in bash_lines(code):
        if not line.startswith("phidown-async "):
            continue
        args = shlex.split(line, comments=True)[1:]
        command = [*program(), *args]
        if "|" in args:
            head = args.index("|")
            pipeline = f"{shlex.join([*program(), *args[:head]])} | {shlex.join(args[head + 1 :])}"
            command = ["bash", "-c", f"set -o pipefail; {pipeline}"]
        done = subprocess.run(
            command,
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"block {index}: {line}\n{done.stdout}\n{done.stderr}"
