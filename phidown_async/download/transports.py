"""Which transport fetches products: S3 when keys are at hand, else HTTPS with the CDSE account.

phidown always uses S3, whose keys most CDSE users do not have; asking for neither here picks
S3 only when keys are found, so a plain CDSE account still works.

Example:
    >>> choose_transport("https").name
    'https'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..config import S3Keys

__all__ = ["TRANSPORTS", "TransportChoice", "choose_transport"]

TRANSPORTS = ("https", "s3")


@dataclass(frozen=True)
class TransportChoice:
    """The transport picked for a run.

    Attributes:
        name: ``"https"`` (zips, with the CDSE account) or ``"s3"`` (SAFE folders).
        reason: why, for the user (e.g. ``S3 keys found in .s5cfg``).
        keys: the S3 keys to use (None over HTTPS).
    """

    name: str
    reason: str
    keys: S3Keys | None = field(default=None, repr=False)


def choose_transport(
    requested: str | None,
    config_file: str | Path | None = ".s5cfg",
    env: Mapping[str, str] | None = None,
) -> TransportChoice:
    """The transport for ``requested`` (``"https"``, ``"s3"``, or None to pick one).

    Args:
        requested: the transport asked for; None picks S3 when keys are found (the
            ``config_file``, else the AWS variables) and HTTPS otherwise.
        config_file: phidown's ``.s5cfg`` with S3 keys.
        env: the environment to read the AWS variables from (default ``os.environ``).

    Raises:
        ValueError: ``requested`` is not a transport.
        CredentialsError: S3 was asked for without keys, or the ``.s5cfg`` is unusable.
    """
    if requested is not None and requested not in TRANSPORTS:
        raise ValueError(f"transport must be 'https', 's3' or None (automatic), not {requested!r}")
    if requested == "https":
        return TransportChoice("https", "HTTPS was asked for")
    if requested == "s3":
        return TransportChoice("s3", "S3 was asked for", S3Keys.require(config_file, env))
    found = S3Keys.locate(config_file, env)
    if found is None:
        return TransportChoice("https", "no S3 keys: HTTPS with the CDSE account")
    keys, source = found
    return TransportChoice("s3", f"S3 keys found in {source}", keys)
