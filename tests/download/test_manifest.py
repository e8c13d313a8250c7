"""SAFE manifests: parsing the real fixtures, refusing bad ones, checking extracted folders."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from product_zips import ANNOTATION, build_zip, manifest_xml

from phidown_async.download.archive import safe_extract
from phidown_async.download.manifest import ManifestEntry, parse_manifest, verify_safe_dir
from phidown_async.errors import VerificationError

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "cdse"


def test_s1_manifest_fixture_lists_13_md5_files():
    entries = parse_manifest((FIXTURES / "s1-manifest.safe").read_bytes())
    assert len(entries) == 13
    first = entries[0]
    assert first == ManifestEntry(
        href="./annotation/s1a-iw-grd-vh-20241217t061735-20241217t061800-057028-07020f-002.xml",
        size=1888864,
        algorithm="MD5",
        checksum="5b30ed5fdd5c443779924148cc0ab233",
    )
    assert first.path.startswith("annotation/s1a-iw-grd-vh-")
    assert {e.algorithm for e in entries} == {"MD5"}
    assert all(e.size and e.checksum for e in entries)


def test_s2_manifest_fixture_lists_59_sha3_files():
    entries = parse_manifest((FIXTURES / "s2-manifest.safe").read_bytes())
    assert len(entries) == 59
    assert entries[0].href == "./MTD_MSIL1C.xml"
    assert entries[0].size == 45353
    assert entries[0].algorithm == "SHA3-256"
    assert entries[0].checksum == (
        "91CB5B925086749536F310AC7F5E0F2F892CE36FBAA85D6DF2E696EAA64B8400"
    )
    assert entries[2].path == "HTML/UserProduct_index.html"


def test_s3_xfdumanifest_fixture_lists_32_files():
    entries = parse_manifest((FIXTURES / "s3-xfdumanifest.xml").read_bytes())
    assert len(entries) == 32
    assert entries[0] == ManifestEntry(
        "./Oa01_reflectance.nc", 5693987, "MD5", "5d0a0d3ee5a73998e382ea78685706ef"
    )


def test_broken_manifest_fixture_is_a_verification_error_naming_the_file():
    data = (FIXTURES / "s2-broken_manifest.safe").read_bytes()
    with pytest.raises(VerificationError, match=r"s2-broken_manifest\.safe") as info:
        parse_manifest(data, source="s2-broken_manifest.safe")
    assert "S2_Level-1C_Product_Metadata" in str(info.value)


def test_truncated_manifest_is_a_verification_error():
    data = (FIXTURES / "s1-manifest.safe").read_bytes()[:5000]
    with pytest.raises(VerificationError, match="not well-formed"):
        parse_manifest(data)


def test_manifest_with_entity_declarations_is_refused():
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    with pytest.raises(VerificationError, match="DTD"):
        parse_manifest(bomb)


def test_manifest_href_escaping_the_product_is_refused():
    with pytest.raises(VerificationError, match="not inside the product"):
        parse_manifest(manifest_xml([("./../../etc/passwd", "10", "ab")]))


def test_burst_manifest_with_empty_size_and_checksum_keeps_entries():
    entries = parse_manifest(manifest_xml([("./measurement/burst.tiff", "", "")]))
    assert entries == [ManifestEntry("./measurement/burst.tiff", None, "MD5", None)]


# ---------------------------------------------------------------- extracted folders


def test_verify_safe_dir_reports_checksum_mismatch_with_equal_size(tmp_path):
    safe = safe_extract(build_zip(tmp_path / "p.zip"), tmp_path / "out")
    original = (safe / ANNOTATION).read_bytes()
    (safe / ANNOTATION).write_bytes(original.upper())
    (bad,) = verify_safe_dir(safe)
    assert bad.path == ANNOTATION
    assert "MD5 checksum mismatch" in bad.reason
    assert bad.expected == hashlib.md5(original).hexdigest()
    assert bad.actual == hashlib.md5(original.upper()).hexdigest()


def test_verify_safe_dir_without_manifest_raises(tmp_path):
    with pytest.raises(VerificationError, match=r"no manifest\.safe"):
        verify_safe_dir(tmp_path)
