"""Ledgers that cannot be used as they are: one clear line each, nothing changed, no traceback.

A folder given as ``--ledger``, a ledger with a damaged page, another program's SQLite
database, and a ledger on a file system that cannot be written to (full, or read-only).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import PRODUCTS, CliRun
from tmpfs import fill, remount, tmpfs

LEDGER = ".phidown_ledger.sqlite"


@pytest.fixture
def two(cli: CliRun) -> str:
    assert cli("search", *PRODUCTS, "--limit", "2", "--out", "two.json").exit_code == 0
    return "two.json"


def one_error_line(output: str) -> str:
    assert "Traceback" not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_a_folder_as_ledger_is_a_usage_error(cli: CliRun, two: str, tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()

    result = cli("download", two, "-o", "data", "--ledger", "folder")

    assert result.exit_code == 2, result.output
    assert "folder is a folder, not a ledger file" in one_error_line(result.stderr)


def test_a_damaged_ledger_says_to_move_it_aside(cli: CliRun, two: str, tmp_path: Path) -> None:
    assert cli("download", two, "-o", "data").exit_code == 0
    ledger = tmp_path / "data" / LEDGER
    with open(ledger, "r+b") as handle:  # page 2, the root of the items table
        handle.seek(4096)
        handle.write(b"\xde\xad\xbe\xef" * 1024)

    for args in (["ledger", "data"], ["download", two, "-o", "data"]):
        result = cli(*args)

        assert result.exit_code == 2, result.output
        line = one_error_line(result.stderr)
        assert str(Path("data") / LEDGER) in line
        assert "is damaged" in line and "move it aside" in line

    # Moved aside, the next run starts a new ledger and fetches nothing again.
    ledger.rename(ledger.with_name("damaged.sqlite"))
    again = cli("download", two, "-o", "data")
    assert again.exit_code == 0, again.output
    assert again.stdout.count("already on disk and verified") == 2


def test_another_programs_database_is_refused_and_left_unchanged(
    cli: CliRun, two: str, tmp_path: Path
) -> None:
    other = tmp_path / "photos.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE albums (id INTEGER PRIMARY KEY, title TEXT)")
    conn.execute("INSERT INTO albums (title) VALUES ('Dolomites')")
    conn.commit()
    conn.close()
    before = other.read_bytes()

    for args in (
        ["download", two, "-o", "data", "--ledger", "photos.sqlite"],
        ["ledger", "photos.sqlite"],
    ):
        result = cli(*args)

        assert result.exit_code == 2, result.output
        assert "another program's database" in one_error_line(result.stderr)
    assert other.read_bytes() == before
    assert not other.with_name("photos.sqlite-wal").exists()
    assert not list((tmp_path / "data").glob("*.zip"))


def test_reading_a_ledger_needs_no_space_and_no_write_access(
    cli: CliRun, two: str, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "data", "1m") as data:
        assert cli("download", two, "-o", "data").exit_code == 0
        fill(data)

        full = cli("ledger", "data")

        assert full.exit_code == 0, full.output
        assert "│ done    │     2 │" in full.stdout

        remount(data, "ro")
        read_only = cli("ledger", "data", "--failures")

        assert read_only.exit_code == 0, read_only.output
        assert "│ done    │     2 │" in read_only.stdout
        assert "No failures." in read_only.stdout
