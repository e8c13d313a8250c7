"""Server-sent file names: Content-Disposition parsing and sanitising."""

from __future__ import annotations

import pytest

from phidown_async.download.names import fit_name, parse_content_disposition, safe_filename


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "S1A_SLC_20200724T034349_200631_IW1_VV_255133.zip",
            "S1A_SLC_20200724T034349_200631_IW1_VV_255133.zip",
        ),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\evil.zip", "evil.zip"),
        ("..", "fallback.zip"),
        ("", "fallback.zip"),
        (None, "fallback.zip"),
        ("a\x00b\r\nc.zip", "abc.zip"),
        (".hidden", "hidden"),
        ('we:ird|"name?.zip', "we_ird__name_.zip"),
        ("/", "fallback.zip"),
    ],
)
def test_safe_filename(name, expected):
    assert safe_filename(name, "fallback.zip") == expected


def test_safe_filename_limits_length_and_keeps_suffix():
    name = safe_filename("x" * 400 + ".zip", "f")
    assert len(name.encode()) == 255
    assert name.endswith(".zip")


def test_safe_filename_needs_a_usable_fallback():
    with pytest.raises(ValueError, match="fallback"):
        safe_filename("..", "..")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("attachment; filename=S1A_SLC_IW1_VV_255133.zip", "S1A_SLC_IW1_VV_255133.zip"),
        ('attachment; filename="S1A_IW_SLC.SAFE.zip"', "S1A_IW_SLC.SAFE.zip"),
        ('attachment; filename="a \\"quoted\\" name.zip"', 'a "quoted" name.zip'),
        ("attachment; filename*=UTF-8''na%C3%AFve%20file.zip", "naïve file.zip"),
        ("attachment; filename=\"plain.zip\"; filename*=UTF-8''fancy%E2%82%AC.zip", "fancy€.zip"),
        ("attachment; FILENAME=upper.zip", "upper.zip"),
        ('attachment; filename="semi;colon.zip"', "semi;colon.zip"),
        ("attachment; filename*=bogus; filename=fallback.zip", "fallback.zip"),
        ("attachment", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_content_disposition(header, expected):
    assert parse_content_disposition(header) == expected


def test_content_disposition_traversal_is_neutralised_by_safe_filename():
    name = parse_content_disposition('attachment; filename="../../.bashrc"')
    assert name == "../../.bashrc"
    assert safe_filename(name, "product.zip") == "bashrc"


def test_fit_name_keeps_short_names_and_shortens_long_ones_uniquely():
    assert fit_name("X.SAFE.zip", 40, "id-1") == "X.SAFE.zip"
    long = "S1A_" + "é" * 300 + ".SAFE.zip"
    one, two = fit_name(long, 40, "id-1"), fit_name(long, 40, "id-2")
    assert one != two and one == fit_name(long, 40, "id-1")
    for name in (one, two):
        assert len(name.encode()) <= 40 and name.startswith("S1A_é")
        assert name.endswith(".SAFE.zip") and "~" in name
