"""API tokens: random secrets shown once, stored as SHA-256 hashes, with one scope each.

Scopes are ordered: `admin` may do what `write` may, `write` what `read` may.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Final

from magickbox.errors import InvalidInput, NotFound
from magickbox.store.db import Database

SCOPES: Final = ("read", "write", "admin")
PREFIX: Final = "mbx_"


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    scope: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def scope_allows(granted: str, needed: str) -> bool:
    return granted in SCOPES and SCOPES.index(granted) >= SCOPES.index(needed)


class TokenStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, scope: str, name: str = "") -> tuple[TokenInfo, str]:
        """A new token; returns its record and the secret (shown to the user once)."""
        if scope not in SCOPES:
            raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
        secret = PREFIX + secrets.token_urlsafe(32)
        now = time.time()
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO api_tokens(name, token_hash, scope, created_at) VALUES (?, ?, ?, ?)",
                (name, _hash(secret), scope, now),
            )
            token_id = int(cursor.lastrowid or 0)
        return TokenInfo(token_id, name, scope, now, None, None), secret

    def list(self) -> list[TokenInfo]:
        rows = self.db.query(
            "SELECT id, name, scope, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY id"
        )
        return [TokenInfo(**dict(r)) for r in rows]

    def revoke(self, token_id: int) -> None:
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (time.time(), token_id),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"no active token with id {token_id}")

    def any_active(self) -> bool:
        return self.db.query_one("SELECT 1 FROM api_tokens WHERE revoked_at IS NULL LIMIT 1") is not None

    def check(self, token: str) -> str | None:
        """The scope of an active token, or None. Marks the token as used (at most once a minute)."""
        digest = _hash(token)
        row = self.db.query_one(
            "SELECT id, token_hash, scope, last_used_at FROM api_tokens"
            " WHERE token_hash = ? AND revoked_at IS NULL",
            (digest,),
        )
        if row is None or not hmac.compare_digest(str(row["token_hash"]), digest):
            return None
        now = time.time()
        if row["last_used_at"] is None or now - float(row["last_used_at"]) > 60:
            with self.db.transaction() as conn:
                conn.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now, row["id"]))
        return str(row["scope"])
