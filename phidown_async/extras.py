"""Optional dependencies: which extra brings which modules, and the error when one is missing.

A plain install is the engine, the facade and the CLI; the sandbox's web server, the S3
client, GeoParquet and plots come with extras (``pip install 'phidown_async[sandbox]'``).
Code that needs one imports it inside `needs`, so a missing module becomes one sentence
naming the extra instead of an ImportError traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .errors import MissingExtraError

__all__ = ["EXTRAS", "needs"]

#: Extra -> the top-level modules it installs (as imported).
EXTRAS: dict[str, tuple[str, ...]] = {
    "sandbox": ("starlette", "uvicorn", "trustme"),
    "s3": ("aiobotocore", "aiohttp", "botocore"),
    "sandbox-s3": ("moto", "boto3", "botocore"),
    "geo": ("geopandas", "pyarrow"),
    "plot": ("matplotlib",),
    "dask": ("distributed", "dask"),
}


@contextmanager
def needs(extra: str, purpose: str) -> Iterator[None]:
    """Imports inside this block that fail for a module of ``extra`` raise `MissingExtraError`.

    Args:
        extra: a key of `EXTRAS`.
        purpose: what needs it, as the start of the sentence (``"The sandbox"``).

    Raises:
        MissingExtraError: ``<purpose> needs the '<extra>' extra (<module> is not installed):
            pip install 'phidown_async[<extra>]'``. Other import errors pass unchanged.

    Example:
        >>> with needs("plot", "Plotting"):
        ...     import matplotlib                                   # doctest: +SKIP
    """
    try:
        yield
    except ImportError as exc:
        module = (exc.name or "").partition(".")[0]
        if module not in EXTRAS[extra]:
            raise
        raise MissingExtraError(
            f"{purpose} needs the '{extra}' extra ({module} is not installed): "
            f"pip install 'phidown_async[{extra}]'",
            extra=extra,
        ) from None
