"""Checksums of downloaded bytes: algorithm names, streaming hashers, catalogue values.

Hashing blocks (it reads gigabytes), so async callers use the ``*_async`` variants, which run
it in a worker thread.

Example:
    >>> hasher = StreamHasher(["MD5"])
    >>> hasher.update(b"abc")
    >>> hasher.hexdigests()
    {'MD5': '900150983cd24fb0d6963f7d28e17f72'}
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
from blake3 import blake3

from ..errors import VerificationError

CHUNK_SIZE = 1 << 20

_ALIASES = {
    "MD5": "MD5",
    "SHA1": "SHA-1",
    "SHA256": "SHA-256",
    "SHA512": "SHA-512",
    "SHA3256": "SHA3-256",
    "SHA3512": "SHA3-512",
    "BLAKE3": "BLAKE3",
}
_HASHLIB_NAMES = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-512": "sha512",
    "SHA3-256": "sha3_256",
    "SHA3-512": "sha3_512",
}


def canonical_algorithm(name: str) -> str | None:
    """Canonical name (``MD5``, ``BLAKE3``, ``SHA3-256``, ...) of a checksum algorithm.

    Spelling, case and separators are forgiven (``sha3_256`` -> ``SHA3-256``).

    Returns:
        The canonical name, or None when the algorithm is not supported.
    """
    return _ALIASES.get(re.sub(r"[\s_-]", "", str(name)).upper())


def _new_hash(algorithm: str) -> Any:
    if algorithm == "BLAKE3":
        return blake3()
    # usedforsecurity=False: MD5 here is an integrity check, and FIPS builds allow that.
    return hashlib.new(_HASHLIB_NAMES[algorithm], usedforsecurity=False)


class StreamHasher:
    """Incremental hashing of a byte stream with several algorithms at once.

    Args:
        algorithms: names such as ``"MD5"``, ``"BLAKE3"``, ``"SHA3-256"`` (any spelling
            :func:`canonical_algorithm` accepts); duplicates are hashed once.

    Raises:
        ValueError: an algorithm is not supported.
    """

    def __init__(self, algorithms: Iterable[str]) -> None:
        self._hashes: dict[str, Any] = {}
        for name in algorithms:
            algorithm = canonical_algorithm(name)
            if algorithm is None:
                raise ValueError(f"unsupported checksum algorithm: {name!r}")
            self._hashes.setdefault(algorithm, _new_hash(algorithm))
        self._count = 0

    @property
    def algorithms(self) -> tuple[str, ...]:
        """Canonical names of the algorithms being computed."""
        return tuple(self._hashes)

    @property
    def bytes_hashed(self) -> int:
        """Number of bytes fed so far (primed plus streamed)."""
        return self._count

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        """Feed the next chunk of the stream."""
        for digest in self._hashes.values():
            digest.update(chunk)
        self._count += len(chunk)

    def hexdigests(self) -> dict[str, str]:
        """Lower-case hex digest of everything fed so far, by canonical algorithm name.

        Hashing may continue afterwards.
        """
        return {name: digest.hexdigest() for name, digest in self._hashes.items()}

    def prime(
        self, path: str | Path, *, limit: int | None = None, chunk_size: int = CHUNK_SIZE
    ) -> int:
        """Hash the bytes already on disk (a partial download), before resuming the stream.

        Args:
            path: the partial file.
            limit: hash at most this many leading bytes (None: the whole file).
            chunk_size: bytes read at a time.

        Returns:
            The number of bytes hashed: the offset to resume the download from.

        Raises:
            OSError: the file cannot be read.
        """
        remaining = limit
        primed = 0
        with open(path, "rb") as handle:
            while remaining is None or remaining > 0:
                size = chunk_size if remaining is None else min(chunk_size, remaining)
                chunk = handle.read(size)
                if not chunk:
                    break
                self.update(chunk)
                primed += len(chunk)
                if remaining is not None:
                    remaining -= len(chunk)
        return primed

    async def prime_async(
        self, path: str | Path, *, limit: int | None = None, chunk_size: int = CHUNK_SIZE
    ) -> int:
        """:meth:`prime` in a worker thread."""
        return await anyio.to_thread.run_sync(
            functools.partial(self.prime, path, limit=limit, chunk_size=chunk_size)
        )


def stream_algorithms(checksums: Iterable[str]) -> tuple[str, ...]:
    """The algorithms worth computing to check a file against ``checksums``.

    BLAKE3 alone when it is among them: it is stronger than MD5 and five times cheaper,
    and a file whose BLAKE3 matches cannot fail an MD5 comparison that a matching MD5
    would pass, so hashing MD5 too buys nothing. Otherwise every algorithm given, and MD5
    when none is (a digest for the ledger).
    """
    names = tuple(dict.fromkeys(canonical_algorithm(n) or n for n in checksums))
    return ("BLAKE3",) if "BLAKE3" in names else names or ("MD5",)


def hash_file(
    path: str | Path, algorithms: Iterable[str], *, chunk_size: int = CHUNK_SIZE
) -> dict[str, str]:
    """Hex digests of a whole file, read in chunks.

    Raises:
        ValueError: an algorithm is not supported.
        OSError: the file cannot be read.
    """
    hasher = StreamHasher(algorithms)
    hasher.prime(path, chunk_size=chunk_size)
    return hasher.hexdigests()


# Hex digits of each algorithm's digest (BLAKE3's default output, as the catalogue gives it).
_HEX_DIGITS = {
    "MD5": 32,
    "SHA-1": 40,
    "SHA-256": 64,
    "SHA-512": 128,
    "SHA3-256": 64,
    "SHA3-512": 128,
    "BLAKE3": 64,
}


@dataclass(frozen=True)
class IgnoredChecksum:
    """A catalogue checksum that cannot be a digest of its algorithm, and why."""

    algorithm: str
    reason: str


def _malformed(algorithm: str, value: str) -> str | None:
    if not re.fullmatch(r"[0-9a-f]+", value):
        return f"{value[:40]!r} is not hexadecimal"
    if len(value) != _HEX_DIGITS[algorithm]:
        return f"{len(value)} hex digits, {algorithm} has {_HEX_DIGITS[algorithm]}"
    return None


def catalogue_checksums(
    entity_checksum_list: Any,
) -> tuple[dict[str, str], tuple[IgnoredChecksum, ...]]:
    """Checksums published by the catalogue for a product, and the malformed ones.

    Args:
        entity_checksum_list: the product's ``Checksum`` field,
            ``[{"Value": ..., "Algorithm": "MD5", "ChecksumDate": ...}, ...]``; may be empty,
            None, or NaN (a DataFrame cell).

    Returns:
        ``({"MD5": "<lower hex>", ...}, ignored)``: digests of supported algorithms (the
        first good value of an algorithm wins), and the values that are not a digest of
        their algorithm (not hex, wrong length), which count as absent. Empty values and
        unsupported algorithms are left out silently.
    """
    result: dict[str, str] = {}
    ignored: list[IgnoredChecksum] = []
    if not isinstance(entity_checksum_list, list | tuple):
        return result, ()
    for entry in entity_checksum_list:
        if not isinstance(entry, Mapping):
            continue
        algorithm = canonical_algorithm(str(entry.get("Algorithm") or ""))
        value = str(entry.get("Value") or "").strip().lower()
        if not algorithm or not value:
            continue
        problem = _malformed(algorithm, value)
        if problem:
            ignored.append(IgnoredChecksum(algorithm, problem))
        else:
            result.setdefault(algorithm, value)
    return result, tuple(ignored)


def expected_checksums(entity_checksum_list: Any) -> dict[str, str]:
    """The well-formed digests of `catalogue_checksums`, by canonical algorithm."""
    return catalogue_checksums(entity_checksum_list)[0]


def compare_size(expected: int | None, actual: int, *, name: str, source: str = "expected") -> None:
    """Check a file's size against the one ``source`` gave (nothing to do when None).

    Raises:
        VerificationError: the sizes differ (``path``, ``expected``, ``actual`` set).
    """
    if expected is not None and actual != expected:
        raise VerificationError(
            f"{name}: size mismatch: {source} {expected} bytes, got {actual}",
            path=name,
            expected=expected,
            actual=actual,
        )


def compare_checksums(
    expected: Mapping[str, str], computed: Mapping[str, str], *, name: str
) -> None:
    """Check computed digests against expected ones (hex, case-insensitive).

    Algorithm names are compared in canonical form; only algorithms present in both
    mappings are compared.

    Raises:
        VerificationError: a digest differs; the message names ``name``, the algorithm,
            and the expected and actual values.
    """
    have = {canonical_algorithm(k) or k: v for k, v in computed.items()}
    for key, want in expected.items():
        algorithm = canonical_algorithm(key) or key
        got = have.get(algorithm)
        if got is not None and got.strip().lower() != want.strip().lower():
            want, got = want.strip().lower(), got.strip().lower()
            raise VerificationError(
                f"{name}: {algorithm} checksum mismatch: expected {want}, got {got}",
                path=name,
                expected=want,
                actual=got,
            )


async def hash_file_async(
    path: str | Path, algorithms: Iterable[str], **kwargs: Any
) -> dict[str, str]:
    """:func:`hash_file` in a worker thread (same arguments); cancel returns at once."""
    return await anyio.to_thread.run_sync(
        functools.partial(hash_file, path, algorithms, **kwargs), abandon_on_cancel=True
    )
