"""Part files: one sidecar, resume point kept, atomic install, never written through a link."""

from __future__ import annotations

from pathlib import Path

from phidown_async.download.partfile import PartFile


def test_the_sidecar_records_and_merges_what_a_transfer_needs(tmp_path: Path):
    part = PartFile(tmp_path / "X.zip.part")
    assert part.size() == 0 and part.load() == {}
    part.save(validator='"v1"', filename="x.zip")
    part.update(parts=[0, 2])
    assert part.sidecar == tmp_path / "X.zip.part.json"
    assert part.load() == {"validator": '"v1"', "filename": "x.zip", "parts": [0, 2]}


def test_an_unreadable_sidecar_reads_as_empty(tmp_path: Path):
    part = PartFile(tmp_path / "X.zip.part")
    part.sidecar.write_text("{not json")
    assert part.load() == {}
    part.sidecar.write_text("[1, 2]")
    assert part.load() == {}


def test_writes_resume_at_the_offset_and_install_renames(tmp_path: Path):
    part = PartFile(tmp_path / "sub" / "X.zip.part")
    with part.open(0, truncate=True) as handle:
        handle.write(b"abcdef")
    with part.open(3) as handle:
        handle.write(b"DEF!")
    part.save(validator="v")
    assert part.size() == 7
    target = tmp_path / "sub" / "X.zip"
    assert part.install(target) == 7
    assert target.read_bytes() == b"abcDEF!"
    assert not part.path.exists() and not part.sidecar.exists()


def test_a_symlink_at_the_part_is_removed_not_written_through(tmp_path: Path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    folder = tmp_path / "out"
    folder.mkdir()
    part = PartFile(folder / "X.zip.part")
    part.path.symlink_to(outside)
    assert part.size() == 0  # a link is no resume point
    with part.open(0, truncate=True) as handle:
        handle.write(b"new bytes")
    assert outside.read_bytes() == b"precious"
    assert not part.path.is_symlink() and part.path.read_bytes() == b"new bytes"


def test_install_new_never_replaces_an_existing_name(tmp_path: Path):
    taken = tmp_path / "taken.zip"
    taken.write_bytes(b"someone else's")
    part = PartFile(tmp_path / "b.zip.part")
    with part.open(0, truncate=True) as handle:
        handle.write(b"mine")
    part.save(validator=None)
    assert not part.install_new(taken)
    assert taken.read_bytes() == b"someone else's" and part.path.exists()
    free = tmp_path / "free.zip"
    assert part.install_new(free)
    assert free.read_bytes() == b"mine" and not part.path.exists() and not part.sidecar.exists()


def test_reserve_keeps_the_bytes_and_discard_removes_both_files(tmp_path: Path):
    part = PartFile(tmp_path / "o.part")
    with part.open(0, truncate=True) as handle:
        handle.write(b"head")
    part.reserve(10)
    assert part.path.read_bytes() == b"head" + bytes(6)
    part.save(validator="e")
    part.discard()
    assert not part.path.exists() and not part.sidecar.exists()
