"""Secrets out of text that is kept or shown: bearer tokens, JWTs, ``token=``-style values."""

from __future__ import annotations

import re

_SECRET_PATTERNS = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*"), r"\1 [redacted]"),
    (
        re.compile(
            r"(?i)\b(access_token|refresh_token|id_token|token|password|passwd|"
            r"client_secret|aws_secret_access_key|x-amz-signature|x-amz-credential|"
            r"x-amz-security-token)\b([\"']?\s*[:=]\s*[\"']?)([^\s&\"',;}]+)"
        ),
        r"\1\2[redacted]",
    ),
    # A JWT anywhere (an access token pasted into a message without its key).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[redacted]"),
)


def scrub_secrets(text: str) -> str:
    """``text`` with bearer tokens, JWTs and ``token=``/``password=``-style values redacted.

    Example:
        >>> scrub_secrets("401 for ...?access_token=abc123&x=1")
        '401 for ...?access_token=[redacted]&x=1'
    """
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text
