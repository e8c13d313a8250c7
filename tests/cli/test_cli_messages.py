"""One clear line, no traceback, the README's exit code: unreadable inputs and credentials."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CliRun
from typer.testing import Result

from phidown_async.sandbox import Sandbox


def no_traceback(result: Result) -> None:
    # CliRunner keeps an escaped exception in ``exception``, not in the output.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


def one_line_error(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    no_traceback(result)
    return " ".join(result.stderr.split())


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("deep.json", b"[" * 200_000, "nested too deeply"),
        ("latin.json", b'[{"Name": "caf\xe9"}]', "not UTF-8 text"),
        ("bad.parquet", b"PAR1 not really parquet", "not a valid parquet result file"),
        ("shape.geojson", b'{"type": "FeatureCollection", "features": [1]}', "a feature is not"),
        ("deep.csv", b"Name,Notes\nS1A_NO_SUCH.SAFE," + b"[" * 200_000 + b"\n", None),
    ],
)
def test_an_unreadable_input_file_is_named_and_exits_2(
    cli: CliRun, name: str, content: bytes, reason: str | None
) -> None:
    Path(name).write_bytes(content)

    result = cli("download", name, "-o", "data")

    if reason is None:  # a cell that merely looks like JSON is kept as text
        no_traceback(result)
        return
    message = one_line_error(result, 2)
    assert f"cannot read {name}: " in message
    assert reason in message


def test_a_folder_given_as_input_file_exits_2(cli: CliRun) -> None:
    Path("dir.json").mkdir()

    message = one_line_error(cli("download", "dir.json"), 2)

    assert "cannot read dir.json: Is a directory" in message


def test_a_netrc_parse_error_names_the_file_and_line_never_the_password(
    cli: CliRun, env: dict[str, str], home: Path
) -> None:
    netrc = home / ".netrc"
    netrc.write_text(
        "machine identity.dataspace.copernicus.eu\n  login me\n  password two secret words\n"
    )
    netrc.chmod(0o600)
    anonymous = {k: v for k, v in env.items() if not k.startswith("CDSE_")}

    result = cli("download", "S1A_X.SAFE", "-o", "data", environment=anonymous)

    message = one_line_error(result, 2)
    assert f"{netrc}: line 3 is not valid netrc syntax" in message
    assert "secret" not in result.output and "words" not in result.output


def test_a_refused_password_exits_2_in_one_sentence(
    cli: CliRun, env: dict[str, str], sandbox: Sandbox
) -> None:
    wrong = {**env, "CDSE_PASSWORD": "not-the-password"}
    name = sandbox.archive.products[0]["Name"]

    result = cli("download", name, "-o", "data", environment=wrong)

    message = one_line_error(result, 2)
    assert "refused the password grant" in message
    assert "not-the-password" not in result.output
