"""Checksums: algorithm names, streaming hashers, catalogue values, comparisons."""

from __future__ import annotations

import hashlib
import os

import pytest
from blake3 import blake3

from phidown_async.download.checksums import (
    StreamHasher,
    catalogue_checksums,
    compare_checksums,
    expected_checksums,
    hash_file,
    hash_file_async,
)
from phidown_async.errors import VerificationError


def test_stream_hasher_primed_from_partial_file_equals_one_shot(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 123)
    cut = 1_300_001
    partial = tmp_path / "product.zip.part"
    partial.write_bytes(data[:cut])
    hasher = StreamHasher(["md5", "BLAKE3", "sha3_256"])
    assert hasher.prime(partial, chunk_size=64 * 1024) == cut
    for start in range(cut, len(data), 500_000):
        hasher.update(data[start : start + 500_000])
    assert hasher.bytes_hashed == len(data)
    assert hasher.hexdigests() == {
        "MD5": hashlib.md5(data).hexdigest(),
        "BLAKE3": blake3(data).hexdigest(),
        "SHA3-256": hashlib.sha3_256(data).hexdigest(),
    }


async def test_async_prime_and_hash_file_agree(tmp_path):
    data = os.urandom(200_000)
    target = tmp_path / "f.bin"
    target.write_bytes(data)
    hasher = StreamHasher(["MD5"])
    assert await hasher.prime_async(target, limit=1000) == 1000
    hasher.update(data[1000:])
    assert hasher.hexdigests() == await hash_file_async(target, ["MD5"])
    assert hash_file(target, ["MD5"])["MD5"] == hashlib.md5(data).hexdigest()


def test_stream_hasher_rejects_unknown_algorithm():
    with pytest.raises(ValueError, match="CRC99"):
        StreamHasher(["CRC99"])


def test_expected_checksums_from_catalogue_entry():
    checksum = [
        {
            "Value": "0DBCBDB1A7B8D1D1D9B7FA6E7E6B7E0F",
            "Algorithm": "MD5",
            "ChecksumDate": "2024-08-02T08:49:14.548000Z",
        },
        {
            "Value": "b9a3f4c0" * 8,
            "Algorithm": "BLAKE3",
            "ChecksumDate": "2024-08-02T08:49:15.022000Z",
        },
        {"Value": "", "Algorithm": "SHA256"},
        {"Value": "zz", "Algorithm": "WHIRLPOOL"},
    ]
    assert expected_checksums(checksum) == {
        "MD5": "0dbcbdb1a7b8d1d1d9b7fa6e7e6b7e0f",
        "BLAKE3": "b9a3f4c0" * 8,
    }
    assert expected_checksums([]) == {}
    assert expected_checksums(float("nan")) == {}


def test_malformed_catalogue_checksums_are_left_out_and_reported():
    good = "0dbcbdb1a7b8d1d1d9b7fa6e7e6b7e0f"
    values, ignored = catalogue_checksums(
        [
            {"Value": "not-a-hex-digest", "Algorithm": "MD5"},
            {"Value": good, "Algorithm": "MD5"},
            {"Value": "ab" * 16, "Algorithm": "BLAKE3"},
            {"Value": "", "Algorithm": "SHA256"},
        ]
    )
    assert values == {"MD5": good}
    assert [(i.algorithm, i.reason) for i in ignored] == [
        ("MD5", "'not-a-hex-digest' is not hexadecimal"),
        ("BLAKE3", "32 hex digits, BLAKE3 has 64"),
    ]


def test_compare_checksums_names_file_and_values():
    compare_checksums({"md5": "ABC"}, {"MD5": "abc"}, name="p.zip")
    with pytest.raises(VerificationError, match=r"p.zip: MD5 .*expected abc, got def"):
        compare_checksums({"MD5": "abc"}, {"MD5": "def"}, name="p.zip")


def test_checksum_mismatch_carries_path_expected_and_actual():
    with pytest.raises(VerificationError) as info:
        compare_checksums({"MD5": "ABC"}, {"MD5": "DEF"}, name="p.zip")
    assert (info.value.path, info.value.expected, info.value.actual) == ("p.zip", "abc", "def")
