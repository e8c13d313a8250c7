"""Server-sent file names: reading them from ``Content-Disposition`` and making them safe."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import unquote

_UNSAFE_CHARS = re.compile(r'[<>:"|?*]')
_MAX_NAME_BYTES = 255


def _clean_name(name: str | None) -> str:
    if not name:
        return ""
    text = unicodedata.normalize("NFC", str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    # Control and format characters (NUL, newlines, bidi overrides) never belong in a name.
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf"))
    text = _UNSAFE_CHARS.sub("_", text).strip().lstrip(".").rstrip(". ")
    if len(text.encode("utf-8")) > _MAX_NAME_BYTES:
        stem, dot, suffix = text.rpartition(".")
        keep = f"{dot}{suffix}" if dot and len(suffix) <= 16 else ""
        body = stem if keep else text
        budget = _MAX_NAME_BYTES - len(keep.encode("utf-8"))
        body = body.encode("utf-8")[:budget].decode("utf-8", "ignore")
        text = body + keep
    return text


def safe_filename(name: str | None, fallback: str) -> str:
    """A server-sent file name made safe to join to the output folder.

    Keeps only the last path component, drops control characters and NULs, replaces
    characters Windows forbids, strips leading dots (no ``..``, no hidden files) and
    trailing dots/spaces, and limits the name to 255 bytes.

    Args:
        name: the name from ``Content-Disposition`` (or a zip member).
        fallback: used when nothing is left of ``name``; sanitised the same way.

    Raises:
        ValueError: both ``name`` and ``fallback`` are empty after sanitising.

    Example:
        >>> safe_filename("../../etc/passwd", "product.zip")
        'passwd'
    """
    cleaned = _clean_name(name) or _clean_name(fallback)
    if not cleaned:
        raise ValueError("fallback file name is empty after sanitising")
    return cleaned


# The extensions a shortened name keeps (``.SAFE.zip``, ``.SEN3.zip``, ``.nc``).
_EXTENSIONS = re.compile(r"(?:\.[0-9A-Za-z]{1,8}){1,2}$")


def fit_name(name: str, limit: int, key: str) -> str:
    """``name`` when it takes at most ``limit`` bytes (UTF-8), else a shortened one.

    A shortened name keeps the start of ``name`` and its extensions, with ``~`` and 12 hex
    digits of the SHA-256 of ``key`` between them: names shortened for different keys
    never collide, and the same key always gets the same name.

    Example:
        >>> fit_name("S1A_" + "X" * 300 + ".SAFE.zip", 40, "some-id")
        'S1A_XXXXXXXXXXXXXX~9aaebbbd3f8f.SAFE.zip'
    """
    if len(name.encode("utf-8")) <= limit:
        return name
    match = _EXTENSIONS.search(name)
    extensions = match[0] if match else ""
    tag = "~" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    room = limit - len(tag) - len(extensions.encode("utf-8"))
    if room < 1:
        raise ValueError(f"no room for a name in {limit} bytes")
    start = name[: len(name) - len(extensions)].encode("utf-8")[:room]
    return start.decode("utf-8", "ignore") + tag + extensions


_DISPOSITION_PARAM = re.compile(
    r';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)'
)


def _decode_ext_value(value: str) -> str | None:
    """RFC 5987 ``charset'lang'percent-encoded`` value, or None when malformed."""
    match = re.fullmatch(r"([A-Za-z0-9!#$%&+^_`{}~-]*)'[^']*'(.*)", value.strip().strip('"'))
    if not match:
        return None
    try:
        return unquote(match[2], encoding=match[1] or "utf-8", errors="strict")
    except (LookupError, UnicodeDecodeError):
        return None


def parse_content_disposition(header: str | None) -> str | None:
    """The file name of a ``Content-Disposition`` header, not yet sanitised.

    Understands ``filename="a b.zip"`` (with backslash escapes), unquoted
    ``filename=a.zip`` (what the burst service sends) and RFC 5987
    ``filename*=UTF-8''na%C3%AFve.zip``, which wins when both are present. Pass the result
    through :func:`safe_filename` before using it.

    Returns:
        The name, or None when the header has none.

    Example:
        >>> parse_content_disposition("attachment; filename=S1A_SLC_IW1_VV.zip")
        'S1A_SLC_IW1_VV.zip'
    """
    if not header:
        return None
    params: dict[str, str] = {}
    for match in _DISPOSITION_PARAM.finditer(";" + header):
        params.setdefault(match[1].lower(), match[2].strip())
    extended = params.get("filename*")
    if extended:
        decoded = _decode_ext_value(extended)
        if decoded:
            return decoded
    plain = params.get("filename")
    if plain is None:
        return None
    if len(plain) >= 2 and plain.startswith('"') and plain.endswith('"'):
        plain = re.sub(r"\\(.)", r"\1", plain[1:-1])
    return plain or None
