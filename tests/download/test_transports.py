"""choose_transport: S3 when CDSE S3 keys are at hand, else HTTPS; a request is honoured or
refused; the generic AWS variables never pick S3 by themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from phidown_async.config import S3Keys
from phidown_async.download.transports import choose_transport
from phidown_async.errors import CredentialsError

NO_ENV: dict[str, str] = {}
AWS_ENV = {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"}
CDSE_ENV = {"CDSE_S3_ACCESS_KEY": "CK", "CDSE_S3_SECRET_KEY": "CS"}


@pytest.fixture
def s5cfg(tmp_path: Path) -> Path:
    path = tmp_path / ".s5cfg"
    path.write_text("[default]\naws_access_key_id = FK\naws_secret_access_key = FS\n")
    return path


def test_without_keys_https_is_picked(tmp_path: Path):
    choice = choose_transport(None, tmp_path / ".s5cfg", NO_ENV)
    assert (choice.name, choice.keys) == ("https", None)
    assert choice.reason == (
        f"no CDSE S3 keys ({tmp_path / '.s5cfg'}, or CDSE_S3_ACCESS_KEY / CDSE_S3_SECRET_KEY): "
        "HTTPS with the CDSE account"
    )


def test_keys_in_the_config_file_pick_s3(s5cfg: Path):
    choice = choose_transport(None, s5cfg, AWS_ENV)
    assert (choice.name, choice.keys) == ("s3", S3Keys("FK", "FS"))
    assert choice.reason == f"S3 keys found in {s5cfg}"


def test_keys_in_the_cdse_variables_pick_s3(tmp_path: Path):
    choice = choose_transport(None, tmp_path / ".s5cfg", {**AWS_ENV, **CDSE_ENV})
    assert (choice.name, choice.keys) == ("s3", S3Keys("CK", "CS"))
    assert choice.reason == "S3 keys found in CDSE_S3_ACCESS_KEY / CDSE_S3_SECRET_KEY"


def test_the_aws_variables_alone_do_not_pick_s3_and_the_reason_says_so(tmp_path: Path):
    choice = choose_transport(None, tmp_path / ".s5cfg", AWS_ENV)
    assert (choice.name, choice.keys) == ("https", None)
    assert "AWS_ACCESS_KEY_ID is not taken for CDSE unless S3 is asked for" in choice.reason


def test_s3_asked_for_takes_the_aws_variables_as_keys(tmp_path: Path):
    choice = choose_transport("s3", tmp_path / ".s5cfg", AWS_ENV)
    assert (choice.name, choice.keys) == ("s3", S3Keys("AK", "SK"))
    assert "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY" in choice.reason


def test_https_when_asked_for_even_with_keys(s5cfg: Path):
    choice = choose_transport("https", s5cfg, AWS_ENV)
    assert (choice.name, choice.keys) == ("https", None)


def test_s3_when_asked_for_carries_the_keys(s5cfg: Path):
    assert choose_transport("s3", s5cfg, NO_ENV).keys == S3Keys("FK", "FS")


def test_s3_asked_for_without_keys_says_where_they_go(tmp_path: Path):
    with pytest.raises(CredentialsError, match="No S3 keys found"):
        choose_transport("s3", tmp_path / ".s5cfg", NO_ENV)


def test_an_unknown_transport_is_refused():
    with pytest.raises(ValueError, match="transport must be 'https', 's3' or None"):
        choose_transport("ftp", None, NO_ENV)


def test_the_secret_stays_out_of_the_repr(s5cfg: Path):
    assert "FS" not in repr(choose_transport(None, s5cfg, NO_ENV))
