"""Product zips: error pages, complete verification, member safety, safe extraction."""

from __future__ import annotations

import hashlib
import stat
import struct
import zipfile
from pathlib import Path

import pytest
from blake3 import blake3
from product_zips import ANNOTATION, MEASUREMENT, ROOT, build_zip, manifest_xml, payloads

from phidown_async.download.archive import (
    looks_like_error_page,
    safe_extract,
    safe_extract_async,
    verify_zip,
    verify_zip_async,
)
from phidown_async.download.checksums import stream_algorithms
from phidown_async.download.manifest import BadFile, verify_safe_dir, verify_safe_dir_async
from phidown_async.errors import VerificationError


def test_error_pages_are_detected():
    assert looks_like_error_page(b"", "application/zip")
    assert looks_like_error_page(b"<!DOCTYPE html><html><body>Maintenance", "text/html")
    assert looks_like_error_page(b'{"detail":"Expired signature!"}', "application/json")
    assert looks_like_error_page(b'{"code":"DAT-ZIP-100"}', "application/octet-stream")
    assert not looks_like_error_page(b"PK\x03\x04\x14\x00\x00\x00", "application/zip")
    assert not looks_like_error_page(b"PK\x05\x06" + bytes(18), None)
    # A single non-zip file (an orbit .EOF) is fine when a zip is not expected.
    eof = b'<?xml version="1.0"?>\n<Earth_Explorer_File>'
    assert looks_like_error_page(eof, "application/xml")
    assert not looks_like_error_page(eof, "application/xml", expect_zip=False)
    assert looks_like_error_page(b"\n<html>", None, expect_zip=False)


# ---------------------------------------------------------------- verify_zip


def test_good_zip_verifies(tmp_path):
    path = build_zip(tmp_path / f"{ROOT}.zip")
    result = verify_zip(path, expected_size=path.stat().st_size)
    assert result.root == ROOT
    assert result.manifest == f"{ROOT}/manifest.safe"
    assert len(result.manifest_entries) == 3
    assert f"{ROOT}/{MEASUREMENT}" in result.files
    assert len(result.files) == 5


def test_s2_style_upper_case_sha3_manifest_verifies(tmp_path):
    path = build_zip(
        tmp_path / "s2.zip", algorithm="SHA3-256", upper=True, root="S2B_MSIL1C_TEST.SAFE"
    )
    result = verify_zip(path)
    assert {e.algorithm for e in result.manifest_entries} == {"SHA3-256"}
    assert result.manifest_entries[0].checksum.isupper()


def test_flipped_byte_in_a_member_fails_naming_it(tmp_path):
    path = build_zip(tmp_path / "p.zip", compression=zipfile.ZIP_STORED)
    raw = bytearray(path.read_bytes())
    offset = raw.index(b"MEASUREMENT-BLOCK-" * 10) + 5000
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(VerificationError) as info:
        verify_zip(path)
    assert f"{ROOT}/{MEASUREMENT}" in str(info.value)
    assert ANNOTATION not in str(info.value)


def test_checksum_mismatch_against_manifest_names_member_and_values(tmp_path):
    data = payloads()[ANNOTATION]
    wrong = "0" * 32
    path = build_zip(tmp_path / "p.zip", listed={ANNOTATION: (len(data), wrong)})
    with pytest.raises(VerificationError) as info:
        verify_zip(path)
    message = str(info.value)
    assert f"{ROOT}/{ANNOTATION}" in message
    assert wrong in message
    assert hashlib.md5(data).hexdigest() in message


def test_missing_listed_file_fails_naming_it(tmp_path):
    files = payloads()
    path = tmp_path / "p.zip"
    entries = [(f"./{rel}", str(len(d)), hashlib.md5(d).hexdigest()) for rel, d in files.items()]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{ROOT}/manifest.safe", manifest_xml(entries))
        for rel, data in files.items():
            if rel != MEASUREMENT:
                archive.writestr(f"{ROOT}/{rel}", data)
    with pytest.raises(VerificationError, match="missing from the zip") as info:
        verify_zip(path)
    assert f"{ROOT}/{MEASUREMENT}" in str(info.value)


def test_size_mismatch_againstmanifest_xml(tmp_path):
    data = payloads()[MEASUREMENT]
    path = build_zip(
        tmp_path / "p.zip", listed={MEASUREMENT: (len(data) + 1, hashlib.md5(data).hexdigest())}
    )
    with pytest.raises(VerificationError, match=f"{len(data) + 1} bytes, got {len(data)}"):
        verify_zip(path)


def test_file_size_and_checksum_of_whole_zip(tmp_path):
    path = build_zip(tmp_path / "p.zip")
    size = path.stat().st_size
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    with pytest.raises(VerificationError, match=f"expected {size + 10} bytes, got {size}"):
        verify_zip(path, expected_size=size + 10)
    verify_zip(path, checksums={"MD5": md5})  # computed by reading the file
    verify_zip(path, checksums={"MD5": md5}, computed={"MD5": md5})
    with pytest.raises(VerificationError, match="MD5 checksum mismatch"):
        verify_zip(path, checksums={"MD5": md5}, computed={"MD5": "f" * 32})


def test_blake3_alone_checks_a_file_the_catalogue_gives_md5_and_blake3_for(tmp_path):
    path = build_zip(tmp_path / "p.zip")
    raw = path.read_bytes()
    md5, b3 = hashlib.md5(raw).hexdigest(), blake3(raw).hexdigest()
    assert stream_algorithms(["MD5", "BLAKE3"]) == ("BLAKE3",)
    assert stream_algorithms(["md5"]) == ("MD5",)
    assert stream_algorithms([]) == ("MD5",)
    verify_zip(path, checksums={"MD5": md5, "BLAKE3": b3})
    # The file is read for BLAKE3 only: a wrong BLAKE3 is caught even beside a good MD5 ...
    with pytest.raises(VerificationError, match="BLAKE3 checksum mismatch"):
        verify_zip(path, checksums={"MD5": md5, "BLAKE3": "0" * 64})
    # ... and a BLAKE3 computed while streaming is not computed again.
    verify_zip(path, checksums={"MD5": md5, "BLAKE3": b3}, computed={"BLAKE3": b3})
    with pytest.raises(VerificationError, match="BLAKE3 checksum mismatch"):
        verify_zip(path, checksums={"MD5": md5, "BLAKE3": b3}, computed={"BLAKE3": "1" * 64})


def test_mismatches_carry_path_expected_and_actual(tmp_path):
    path = build_zip(tmp_path / "p.zip")
    size = path.stat().st_size
    with pytest.raises(VerificationError) as info:
        verify_zip(path, expected_size=size + 10)
    assert (info.value.path, info.value.expected, info.value.actual) == ("p.zip", size + 10, size)
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    with pytest.raises(VerificationError) as info:
        verify_zip(path, checksums={"MD5": "0" * 32})
    assert (info.value.path, info.value.expected, info.value.actual) == ("p.zip", "0" * 32, md5)


def test_manifest_mismatches_carry_the_member_and_values(tmp_path):
    data = payloads()[ANNOTATION]
    md5 = hashlib.md5(data).hexdigest()
    wrong_size = build_zip(tmp_path / "size.zip", listed={ANNOTATION: (len(data) + 1, md5)})
    with pytest.raises(VerificationError) as info:
        verify_zip(wrong_size)
    assert info.value.path == f"{ROOT}/{ANNOTATION}"
    assert (info.value.expected, info.value.actual) == (len(data) + 1, len(data))
    wrong_sum = build_zip(tmp_path / "sum.zip", listed={ANNOTATION: (len(data), "0" * 32)})
    with pytest.raises(VerificationError) as info:
        verify_zip(wrong_sum)
    assert info.value.path == f"{ROOT}/{ANNOTATION}"
    assert (info.value.expected, info.value.actual) == ("0" * 32, md5)


async def test_subject_names_the_file_in_messages(tmp_path):
    path = build_zip(tmp_path / "p.zip.part")
    size = path.stat().st_size
    with pytest.raises(VerificationError, match=r"^p\.zip: size mismatch") as info:
        verify_zip(path, expected_size=size + 1, subject="p.zip")
    assert "p.zip.part" not in str(info.value)
    assert info.value.path == "p.zip"
    with pytest.raises(VerificationError, match=r"^burst 42: MD5 checksum mismatch"):
        await verify_zip_async(path, checksums={"MD5": "0" * 32}, subject="burst 42")


def _corrupt_crc(path: Path, member: str) -> None:
    """Change the CRC recorded for ``member`` (local header and central directory)."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    bad = struct.pack("<I", info.CRC ^ 0xFFFFFFFF)
    good = struct.pack("<I", info.CRC)
    local = info.header_offset + 14
    assert raw[local : local + 4] == good
    raw[local : local + 4] = bad
    central = raw.index(b"PK\x01\x02")
    while True:
        name_len = struct.unpack("<H", raw[central + 28 : central + 30])[0]
        if raw[central + 46 : central + 46 + name_len] == member.encode():
            break
        central = raw.index(b"PK\x01\x02", central + 4)
    raw[central + 16 : central + 20] = bad
    path.write_bytes(bytes(raw))


def test_bad_crc_in_unlisted_member_fails_naming_it(tmp_path):
    path = build_zip(tmp_path / "p.zip")
    member = f"{ROOT}/support/s1-level-1-product.xsd"
    _corrupt_crc(path, member)
    with pytest.raises(VerificationError, match="corrupt member") as info:
        verify_zip(path)
    assert member in str(info.value)


def test_html_error_page_saved_as_zip_fails(tmp_path):
    path = tmp_path / "p.zip"
    path.write_bytes(b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>")
    with pytest.raises(VerificationError, match="not a valid zip"):
        verify_zip(path)


def test_zip_without_manifest_passes_on_crc(tmp_path):
    path = tmp_path / "orbit.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("S1A_OPER_AUX_POEORB_V2024.EOF", b"<Earth_Explorer_File/>")
    result = verify_zip(path)
    assert result.root is None
    assert result.manifest_entries == ()
    assert result.files == ("S1A_OPER_AUX_POEORB_V2024.EOF",)


def test_safe_folder_without_manifest_fails(tmp_path):
    path = tmp_path / "p.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{ROOT}/measurement/a.tiff", b"data")
    with pytest.raises(VerificationError, match=r"no manifest\.safe"):
        verify_zip(path)


def test_burst_zip_with_emptied_manifest_checksums_verifies(tmp_path):
    path = tmp_path / "burst.zip"
    root = "S1A_SLC_20200724T034349_200631_IW1_VV_255133.SAFE"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{root}/manifest.safe", manifest_xml([("./measurement/b.tiff", "", "")]))
        archive.writestr(f"{root}/measurement/b.tiff", b"burst")
    assert verify_zip(path).root == root


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../evil", "parent-directory"),
        (f"{ROOT}/../../evil", "parent-directory"),
        ("/etc/cron.d/evil", "absolute path"),
    ],
)
def test_escaping_member_is_refused_by_verify_and_extract(tmp_path, member, reason):
    path = build_zip(tmp_path / "p.zip", extra={member: b"owned"})
    with pytest.raises(VerificationError, match=reason):
        verify_zip(path)
    out = tmp_path / "out"
    with pytest.raises(VerificationError, match=reason):
        safe_extract(path, out)
    assert not (tmp_path / "evil").exists()
    assert list(out.iterdir()) == []


def test_symlink_member_is_refused(tmp_path):
    path = build_zip(tmp_path / "p.zip")
    link = zipfile.ZipInfo(f"{ROOT}/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(VerificationError, match="symbolic link"):
        safe_extract(path, tmp_path / "out")
    with pytest.raises(VerificationError, match="symbolic link"):
        verify_zip(path)


async def test_async_verify_wrapper(tmp_path):
    path = build_zip(tmp_path / "p.zip")
    result = await verify_zip_async(path, expected_size=path.stat().st_size)
    assert result.root == ROOT


# ---------------------------------------------------------------- extraction and SAFE folders


def test_safe_extract_then_verify_safe_dir(tmp_path):
    path = build_zip(tmp_path / f"{ROOT}.zip")
    out = tmp_path / "out"
    safe = safe_extract(path, out)
    assert safe == out / ROOT
    assert (safe / MEASUREMENT).read_bytes() == payloads()[MEASUREMENT]
    assert sorted(p.name for p in out.iterdir()) == [ROOT]  # no temp folder left
    assert verify_safe_dir(safe) == []

    (safe / ANNOTATION).write_bytes(b"tampered")
    (safe / MEASUREMENT).unlink()
    bad = verify_safe_dir(safe)
    assert {b.path for b in bad} == {ANNOTATION, MEASUREMENT}
    assert BadFile(MEASUREMENT, "missing") in bad
    assert any("size mismatch" in str(b) for b in bad if b.path == ANNOTATION)


def test_safe_extract_replaces_an_older_copy(tmp_path):
    out = tmp_path / "out"
    stale = out / ROOT / "stale.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    safe = safe_extract(build_zip(tmp_path / f"{ROOT}.zip"), out)
    assert not stale.exists()
    assert (safe / "manifest.safe").is_file()


def test_safe_extract_of_corrupt_zip_leaves_nothing(tmp_path):
    path = build_zip(tmp_path / "p.zip")
    _corrupt_crc(path, f"{ROOT}/{ANNOTATION}")
    out = tmp_path / "out"
    with pytest.raises(VerificationError, match=ANNOTATION):
        safe_extract(path, out)
    assert list(out.iterdir()) == []


async def test_safe_extract_flat_zip_uses_zip_stem(tmp_path):
    path = tmp_path / "S3A_OL_2_WFR_TEST.SEN3.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(
            "xfdumanifest.xml",
            manifest_xml([("./Oa01_reflectance.nc", "3", hashlib.md5(b"abc").hexdigest())]),
        )
        archive.writestr("Oa01_reflectance.nc", b"abc")
    safe = await safe_extract_async(path, tmp_path / "out")
    assert safe == tmp_path / "out" / "S3A_OL_2_WFR_TEST.SEN3"
    assert await verify_safe_dir_async(safe) == []
    assert verify_zip(path).root == ""
