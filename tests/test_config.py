"""Limits (the workers rule: for_connections, spare, for_account) and S3Keys.require."""

from __future__ import annotations

from pathlib import Path

import pytest

from phidown_async.config import Limits, S3Keys
from phidown_async.errors import ConfigError, CredentialsError

NO_ENV: dict[str, str] = {}


def test_limits_default_to_the_general_quota_with_two_spare_workers():
    assert Limits.for_connections() == Limits() == Limits(connections=4, workers=6)


@pytest.mark.parametrize(
    ("connections", "workers", "expected"),
    [(8, None, (8, 10)), (None, 3, (4, 3)), (2, 1, (2, 1)), (1, None, (1, 3))],
)
def test_workers_default_to_two_more_than_the_connections(connections, workers, expected):
    limits = Limits.for_connections(connections, workers)
    assert (limits.connections, limits.workers) == expected


@pytest.mark.parametrize(
    ("limits", "spare"),
    [(Limits(), 2), (Limits(connections=4, workers=4), 0), (Limits(connections=8, workers=3), 0)],
)
def test_spare_workers_are_those_beyond_the_connections(limits, spare):
    assert limits.spare == spare


@pytest.mark.parametrize(
    ("limits", "account", "expected"),
    [
        (Limits(), 2, (2, 4)),  # an account of 2 connections keeps the run's 2 spare workers
        (Limits(connections=4, workers=4), 20, (20, 20)),
        (Limits(connections=8, workers=3), 1, (1, 1)),
    ],
)
def test_an_account_gets_its_connections_plus_the_runs_spare_workers(limits, account, expected):
    own = limits.for_account(account)
    assert (own.connections, own.workers) == expected
    assert (own.chunk_size, own.timeout, own.lowest_speed) == (
        limits.chunk_size,
        limits.timeout,
        limits.lowest_speed,
    )


@pytest.mark.parametrize(("connections", "workers"), [(0, None), (4, 0), (-1, None)])
def test_limits_reject_non_positive_values(connections, workers):
    with pytest.raises(ConfigError):
        Limits.for_connections(connections, workers)


def test_require_returns_the_keys_of_the_config_file(tmp_path: Path):
    cfg = tmp_path / ".s5cfg"
    cfg.write_text("[default]\naws_access_key_id = AK\naws_secret_access_key = SK\n")
    assert S3Keys.require(cfg, NO_ENV) == S3Keys("AK", "SK")
    assert S3Keys.locate(cfg, NO_ENV) == (S3Keys("AK", "SK"), str(cfg))


def test_require_falls_back_to_the_aws_variables(tmp_path: Path):
    env = {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"}
    assert S3Keys.require(tmp_path / "missing.s5cfg", env) == S3Keys("AK", "SK")


def test_require_without_keys_says_where_they_go_and_that_https_needs_none(tmp_path: Path):
    cfg = tmp_path / "keys.s5cfg"
    with pytest.raises(CredentialsError) as info:
        S3Keys.require(cfg, NO_ENV)
    message = str(info.value)
    for part in (
        f"No S3 keys found: put them in {cfg}",
        "CDSE_S3_ACCESS_KEY",
        "CDSE_S3_SECRET_KEY",
        "transport='https'",
        "--transport https",
    ):
        assert part in message
