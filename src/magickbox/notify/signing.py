"""The signature a receiver checks: HMAC-SHA256 of the exact body bytes with the shared secret."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-MagickBox-Signature"


def signature(secret: str, body: bytes) -> str:
    """The header value, `sha256=<hex digest>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """True when `header` is the signature of `body` (constant-time comparison)."""
    return hmac.compare_digest(signature(secret, body), header)
