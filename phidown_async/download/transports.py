"""Which transport fetches products: S3 when CDSE S3 keys are at hand, else HTTPS.

phidown always uses S3, whose keys most CDSE users do not have; asking for neither here picks
S3 only when CDSE's keys are found (phidown's ``.s5cfg``, or ``CDSE_S3_ACCESS_KEY`` /
``CDSE_S3_SECRET_KEY``), so a plain CDSE account still works. The generic
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` belong to other work far more often than
to CDSE: they never pick S3 by themselves, but serve as keys when S3 is asked for.

Example:
    >>> choose_transport("https").name
    'https'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..config import AWS_VARIABLES, CDSE_S3_VARIABLES, S3Keys

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
        requested: the transport asked for; None picks S3 when CDSE S3 keys are found (the
            ``config_file``, else ``CDSE_S3_ACCESS_KEY`` / ``CDSE_S3_SECRET_KEY``) and HTTPS
            otherwise. ``"s3"`` also takes the AWS variables as keys.
        config_file: phidown's ``.s5cfg`` with S3 keys.
        env: the environment to read the variables from (default ``os.environ``).

    Raises:
        ValueError: ``requested`` is not a transport.
        CredentialsError: S3 was asked for without keys, or the ``.s5cfg`` is unusable.
    """
    if requested is not None and requested not in TRANSPORTS:
        raise ValueError(f"transport must be 'https', 's3' or None (automatic), not {requested!r}")
    if requested == "https":
        return TransportChoice("https", "HTTPS with the CDSE account, as asked")
    if requested == "s3":
        found = S3Keys.locate(config_file, env)
        if found is None:
            raise S3Keys.missing(config_file)
        keys, source = found
        return TransportChoice("s3", f"S3 as asked, with the keys in {source}", keys)
    found = S3Keys.locate(config_file, env, generic=False)
    if found is not None:
        keys, source = found
        return TransportChoice("s3", f"S3 keys found in {source}", keys)
    reason = (
        f"no CDSE S3 keys ({config_file or '.s5cfg'}, or {' / '.join(CDSE_S3_VARIABLES)}): "
        "HTTPS with the CDSE account"
    )
    env = os.environ if env is None else env
    if all(env.get(name) for name in AWS_VARIABLES):
        reason += f"; {AWS_VARIABLES[0]} is not taken for CDSE unless S3 is asked for"
    return TransportChoice("https", reason)
